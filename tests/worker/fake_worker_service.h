// FakeWorkerServer: an in-process WorkerService on 127.0.0.1 for the worker loop's tests. It
// hands out the trials queued in its state and records what the worker sent. The state
// outlives Stop(), so a test can take the server away and bring it back on the same port.
#ifndef TUNER_TESTS_WORKER_FAKE_WORKER_SERVICE_H_
#define TUNER_TESTS_WORKER_FAKE_WORKER_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "grpcpp/grpcpp.h"
#include "proto/tuner.grpc.pb.h"

namespace tuner::testing {

namespace v1 = ::tuner::v1;

// What the fake was told, and how it should answer. Thread-safe: every field is guarded by mu.
struct FakeState {
  std::mutex mu;
  std::condition_variable cv;
  double lease_seconds = 0.6;
  std::deque<v1::AcquireTrialResponse> queue;  // handed out in order
  std::set<int64_t> heartbeat_stop;            // trial ids whose heartbeat answers stop
  std::set<int64_t> heartbeat_refuse;          // ... answers FAILED_PRECONDITION (lease lost)
  std::map<int64_t, int> report_stop_at;       // trial id -> epoch whose report answers stop
  bool corrupt_download_sha = false;
  std::map<std::string, std::string> checkpoints;  // id -> bytes

  int registrations = 0;
  int acquires = 0;
  std::map<int64_t, int> heartbeats;                        // by trial id
  std::map<int64_t, std::vector<v1::IntermediateValue>> reports;
  std::vector<v1::CompleteTrialRequest> completions;
  std::vector<v1::FailTrialRequest> fails;
  std::vector<std::pair<v1::Lease, int>> uploads;           // lease and epoch of each
  std::vector<std::map<std::string, std::string>> metadata;  // of each RegisterWorker
};

class FakeWorkerService final : public v1::WorkerService::Service {
 public:
  explicit FakeWorkerService(FakeState* state) : state_(state) {}

  grpc::Status RegisterWorker(grpc::ServerContext* context,
                              const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->registrations++;
    std::map<std::string, std::string> metadata;
    for (const auto& [key, value] : context->client_metadata()) {
      metadata[std::string(key.data(), key.size())] = std::string(value.data(), value.size());
    }
    state_->metadata.push_back(metadata);
    response->set_worker_id(7);
    response->set_lease_seconds(state_->lease_seconds);
    return grpc::Status::OK;
  }

  grpc::Status AcquireTrial(grpc::ServerContext* context, const v1::AcquireTrialRequest* request,
                            v1::AcquireTrialResponse* response) override {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->acquires++;
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int>(
                         std::min(request->wait_seconds(), 1.0) * 1000));
    while (state_->queue.empty() && std::chrono::steady_clock::now() < end &&
           !context->IsCancelled()) {
      state_->cv.wait_for(lock, std::chrono::milliseconds(20));
    }
    if (state_->queue.empty()) {
      response->set_has_trial(false);
      return grpc::Status::OK;
    }
    *response = state_->queue.front();
    state_->queue.pop_front();
    response->set_has_trial(true);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    const int64_t trial = request->lease().trial_id();
    state_->heartbeats[trial]++;
    if (state_->heartbeat_refuse.count(trial)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "lease is no longer held");
    }
    if (state_->heartbeat_stop.count(trial)) {
      response->set_stop(true);
      response->set_reason("study 1 was stopped");
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportIntermediate(grpc::ServerContext*,
                                  const v1::ReportIntermediateRequest* request,
                                  v1::ReportIntermediateResponse* response) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    const int64_t trial = request->lease().trial_id();
    state_->reports[trial].push_back(request->intermediate());
    auto stop = state_->report_stop_at.find(trial);
    if (stop != state_->report_stop_at.end() && request->intermediate().epoch() >= stop->second) {
      response->set_stop(true);
      response->set_reason("pruned");
    }
    return grpc::Status::OK;
  }

  grpc::Status CompleteTrial(grpc::ServerContext*, const v1::CompleteTrialRequest* request,
                             v1::CompleteTrialResponse* response) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->completions.push_back(*request);
    response->set_state(v1::COMPLETED);
    return grpc::Status::OK;
  }

  grpc::Status FailTrial(grpc::ServerContext*, const v1::FailTrialRequest* request,
                         v1::FailTrialResponse* response) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->fails.push_back(*request);
    response->set_state(request->retryable() ? v1::PENDING : v1::FAILED);
    return grpc::Status::OK;
  }

  grpc::Status UploadCheckpoint(grpc::ServerContext*,
                                grpc::ServerReader<v1::CheckpointChunk>* reader,
                                v1::UploadCheckpointResponse* response) override {
    v1::CheckpointChunk chunk;
    std::string data;
    v1::Lease lease;
    int epoch = 0;
    bool first = true;
    while (reader->Read(&chunk)) {
      if (first) {
        lease = chunk.lease();
        epoch = chunk.epoch();
        first = false;
      }
      data += chunk.data();
    }
    std::lock_guard<std::mutex> lock(state_->mu);
    const std::string id = "ckpt" + std::to_string(state_->checkpoints.size() + 1);
    state_->checkpoints[id] = data;
    state_->uploads.emplace_back(lease, epoch);
    response->set_checkpoint_id(id);
    response->set_size_bytes(static_cast<int64_t>(data.size()));
    response->set_sha256(Sha256Hex(data));
    return grpc::Status::OK;
  }

  grpc::Status DownloadCheckpoint(grpc::ServerContext*,
                                  const v1::DownloadCheckpointRequest* request,
                                  grpc::ServerWriter<v1::CheckpointChunk>* writer) override {
    std::string data;
    bool corrupt;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      auto it = state_->checkpoints.find(request->checkpoint_id());
      if (it == state_->checkpoints.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such checkpoint");
      }
      data = it->second;
      corrupt = state_->corrupt_download_sha;
    }
    // Two chunks, so the worker's reassembly is exercised.
    const size_t half = data.size() / 2;
    v1::CheckpointChunk first;
    first.set_checkpoint_id(request->checkpoint_id());
    first.set_size_bytes(static_cast<int64_t>(data.size()));
    first.set_sha256(corrupt ? Sha256Hex("something else") : Sha256Hex(data));
    first.set_data(data.substr(0, half));
    writer->Write(first);
    v1::CheckpointChunk second;
    second.set_data(data.substr(half));
    writer->Write(second);
    return grpc::Status::OK;
  }

 private:
  FakeState* const state_;
};

// The fake on 127.0.0.1; port 0 picks a free one. Stop() then Start(port()) reuses the port.
class FakeWorkerServer {
 public:
  explicit FakeWorkerServer(FakeState* state) : state_(state) {}
  ~FakeWorkerServer() { Stop(); }

  void Start(int port = 0) {
    service_ = std::make_unique<FakeWorkerService>(state_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port),
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
  }

  void Stop() {
    if (!server_) return;
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    server_->Wait();
    server_.reset();
    service_.reset();
  }

  bool running() const { return server_ != nullptr; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  FakeState* const state_;
  std::unique_ptr<FakeWorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tuner::testing

#endif  // TUNER_TESTS_WORKER_FAKE_WORKER_SERVICE_H_
