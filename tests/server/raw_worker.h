// RawWorker: a worker made of bare RPCs, so server tests control every call (when to report,
// when to go silent, what to send) without the trial-worker loop in between.
#ifndef TUNER_TESTS_SERVER_RAW_WORKER_H_
#define TUNER_TESTS_SERVER_RAW_WORKER_H_

#include <chrono>
#include <string>

#include "grpcpp/client_context.h"
#include "proto/tuner.grpc.pb.h"

namespace tuner::testing {

namespace v1 = ::tuner::v1;

class RawWorker {
 public:
  RawWorker(v1::WorkerService::Stub* stub, const std::string& name) : stub_(stub) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    request.set_host("test");
    request.add_devices("cpu");
    v1::RegisterWorkerResponse response;
    grpc::ClientContext context;
    status_ = stub_->RegisterWorker(&context, request, &response);
    id_ = response.worker_id();
  }

  int64_t id() const { return id_; }
  const grpc::Status& register_status() const { return status_; }

  grpc::Status Acquire(v1::AcquireTrialResponse* response, double wait_seconds = 0) {
    v1::AcquireTrialRequest request;
    request.set_worker_id(id_);
    request.set_wait_seconds(wait_seconds);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->AcquireTrial(&context, request, response);
  }

  grpc::Status Report(const v1::Lease& lease, int epoch, double value,
                      v1::ReportIntermediateResponse* response = nullptr, int execution = 0) {
    v1::ReportIntermediateRequest request;
    *request.mutable_lease() = lease;
    request.mutable_intermediate()->set_epoch(epoch);
    request.mutable_intermediate()->set_execution(execution);
    request.mutable_intermediate()->set_value(value);
    (*request.mutable_intermediate()->mutable_metrics())["val_accuracy"] = value;
    v1::ReportIntermediateResponse ignored;
    grpc::ClientContext context;
    return stub_->ReportIntermediate(&context, request, response ? response : &ignored);
  }

  grpc::Status Complete(const v1::Lease& lease, double value, int epochs_done,
                        const std::string& checkpoint_id = "",
                        v1::CompleteTrialResponse* response = nullptr) {
    v1::CompleteTrialRequest request;
    *request.mutable_lease() = lease;
    request.set_value(value);
    request.set_epochs_done(epochs_done);
    request.set_checkpoint_id(checkpoint_id);
    (*request.mutable_metrics())["val_accuracy"] = value;
    v1::CompleteTrialResponse ignored;
    grpc::ClientContext context;
    return stub_->CompleteTrial(&context, request, response ? response : &ignored);
  }

  grpc::Status Fail(const v1::Lease& lease, const std::string& reason, bool retryable,
                    v1::FailTrialResponse* response = nullptr) {
    v1::FailTrialRequest request;
    *request.mutable_lease() = lease;
    request.set_reason(reason);
    request.set_retryable(retryable);
    v1::FailTrialResponse ignored;
    grpc::ClientContext context;
    return stub_->FailTrial(&context, request, response ? response : &ignored);
  }

  grpc::Status Heartbeat(const v1::Lease& lease, v1::HeartbeatResponse* response) {
    v1::HeartbeatRequest request;
    *request.mutable_lease() = lease;
    grpc::ClientContext context;
    return stub_->Heartbeat(&context, request, response);
  }

  grpc::Status Upload(const v1::Lease& lease, int epoch, const std::string& data,
                      v1::UploadCheckpointResponse* response) {
    grpc::ClientContext context;
    auto writer = stub_->UploadCheckpoint(&context, response);
    v1::CheckpointChunk chunk;
    *chunk.mutable_lease() = lease;
    chunk.set_epoch(epoch);
    chunk.set_size_bytes(static_cast<int64_t>(data.size()));
    chunk.set_data(data.substr(0, data.size() / 2));
    writer->Write(chunk);
    chunk.Clear();
    chunk.set_data(data.substr(data.size() / 2));
    writer->Write(chunk);
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Download(const v1::Lease& lease, const std::string& checkpoint_id,
                        std::string* data, std::string* sha256) {
    v1::DownloadCheckpointRequest request;
    request.set_worker_id(id_);
    request.set_checkpoint_id(checkpoint_id);
    *request.mutable_lease() = lease;
    grpc::ClientContext context;
    auto reader = stub_->DownloadCheckpoint(&context, request);
    v1::CheckpointChunk chunk;
    while (reader->Read(&chunk)) {
      if (!chunk.sha256().empty()) *sha256 = chunk.sha256();
      data->append(chunk.data());
    }
    return reader->Finish();
  }

 private:
  v1::WorkerService::Stub* stub_;
  int64_t id_ = 0;
  grpc::Status status_;
};

}  // namespace tuner::testing

#endif  // TUNER_TESTS_SERVER_RAW_WORKER_H_
