#include "trial-worker/worker_rpc.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/client_security.h"
#include "common/sha256.h"
#include "spdlog/spdlog.h"

namespace tuner::worker {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

std::chrono::system_clock::time_point DeadlineIn(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             std::chrono::duration<double>(seconds));
}

}  // namespace

double Backoff::Next() {
  const double wait = next_;
  next_ = std::min(next_ * 2, max_);
  return wait;
}

bool SleepUnlessCancelled(double seconds, const std::function<bool()>& cancel) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    if (cancel && cancel()) return false;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(20), end - Clock::now()));
  }
  return !(cancel && cancel());
}

bool IsTransportError(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

absl::Status ToAbsl(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

std::shared_ptr<grpc::Channel> MakeWorkerChannel(
    const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& tls_server_name) {
  grpc::ChannelArguments args;
  // gRPC's default reconnect backoff grows to 120 s; a worker should see a restarted server
  // within a couple of seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxReceiveMessageSize(16 << 20);
  ClientAuth auth;
  auth.credentials = std::move(credentials);
  auth.tls_server_name = tls_server_name;
  return MakeClientChannel(address, auth, args);
}

WorkerRpc::WorkerRpc(std::shared_ptr<grpc::Channel> channel,
                     std::map<std::string, std::string> metadata, std::string server_label,
                     double initial_backoff_seconds, double max_backoff_seconds)
    : channel_(std::move(channel)),
      stub_(v1::WorkerService::NewStub(channel_)),
      metadata_(std::move(metadata)),
      server_label_(std::move(server_label)),
      initial_backoff_seconds_(initial_backoff_seconds),
      max_backoff_seconds_(max_backoff_seconds) {}

void WorkerRpc::Prepare(grpc::ClientContext& context, double timeout_seconds) const {
  context.set_deadline(DeadlineIn(timeout_seconds));
  for (const auto& [key, value] : metadata_) context.AddMetadata(key, value);
}

grpc::Status WorkerRpc::CallOnce(const StartCall& start, double timeout_seconds,
                                 const CancelFn& cancel) const {
  grpc::ClientContext context;
  Prepare(context, timeout_seconds);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  start(&context, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  bool cancelled = false;
  while (!done) {
    if (!cancelled && cancel && cancel()) {
      context.TryCancel();  // the callback still runs, with CANCELLED
      cancelled = true;
    }
    cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  return status;
}

grpc::Status WorkerRpc::Call(const std::string& log_tag, const char* method,
                             const StartCall& start, double timeout_seconds,
                             double retry_for_seconds, const CancelFn& cancel) const {
  using Clock = std::chrono::steady_clock;
  const auto begin = Clock::now();
  Backoff backoff(initial_backoff_seconds_, max_backoff_seconds_);
  while (true) {
    grpc::Status status = CallOnce(start, timeout_seconds, cancel);
    if (!IsTransportError(status.error_code())) return status;
    if (cancel && cancel()) return status;
    const double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
    double wait = backoff.Next();
    if (retry_for_seconds >= 0) {
      if (elapsed >= retry_for_seconds) return status;
      wait = std::min(wait, retry_for_seconds - elapsed);
    }
    spdlog::warn("{}: tuner-server at {} unreachable, retrying in {:.1f}s ({}: {})", log_tag,
                 server_label_, wait, method, status.error_message());
    if (!SleepUnlessCancelled(wait, cancel)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while waiting to retry");
    }
  }
}

absl::Status WorkerRpc::Download(const v1::Lease& lease, const std::string& checkpoint_id,
                                 const std::string& path, double timeout_seconds) const {
  grpc::ClientContext context;
  Prepare(context, timeout_seconds);
  v1::DownloadCheckpointRequest request;
  request.set_worker_id(lease.worker_id());
  request.set_checkpoint_id(checkpoint_id);
  *request.mutable_lease() = lease;
  std::unique_ptr<grpc::ClientReader<v1::CheckpointChunk>> reader =
      stub_->DownloadCheckpoint(&context, request);
  // Written through a temp file: path holds a whole, verified checkpoint or nothing new.
  absl::StatusOr<std::unique_ptr<AtomicFile>> out = AtomicFile::Create(path);
  if (!out.ok()) {
    context.TryCancel();
    reader->Finish();
    return out.status();
  }
  absl::Status written = absl::OkStatus();
  Sha256 hasher;
  v1::CheckpointChunk chunk;
  bool first = true;
  std::string want_sha;
  int64_t want_size = 0;
  int64_t size = 0;
  while (reader->Read(&chunk)) {
    if (first) {
      want_sha = chunk.sha256();
      want_size = chunk.size_bytes();
      first = false;
    }
    hasher.Update(chunk.data().data(), chunk.data().size());
    if (written.ok()) written = (*out)->Append(chunk.data());
    if (!written.ok()) {
      context.TryCancel();
      break;
    }
    size += static_cast<int64_t>(chunk.data().size());
  }
  grpc::Status status = reader->Finish();
  if (!written.ok()) return written;  // out abandoned the temp file
  if (!status.ok()) return ToAbsl(status);
  if (first) {
    return absl::DataLossError(absl::StrCat("checkpoint ", checkpoint_id, ": empty download"));
  }
  const std::string got_sha = hasher.HexDigest();
  if (size != want_size || got_sha != want_sha) {
    return absl::DataLossError(absl::StrCat("checkpoint ", checkpoint_id, ": got ", size,
                                            " bytes with sha256 ", got_sha, ", expected ",
                                            want_size, " bytes with sha256 ", want_sha));
  }
  return (*out)->Commit();
}

absl::StatusOr<std::string> WorkerRpc::Upload(const v1::Lease& lease, int epoch,
                                              const std::string& path,
                                              double timeout_seconds) const {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::InternalError(absl::StrCat("cannot read checkpoint ", path));
  const auto file_size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  grpc::ClientContext context;
  Prepare(context, timeout_seconds);
  v1::UploadCheckpointResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::CheckpointChunk>> writer =
      stub_->UploadCheckpoint(&context, &response);
  std::string buffer(kChunkBytes, '\0');
  bool first = true;
  while (true) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0 && !first) break;
    v1::CheckpointChunk chunk;
    if (first) {
      *chunk.mutable_lease() = lease;
      chunk.set_epoch(epoch);
      chunk.set_size_bytes(file_size);  // the server discards an upload that ends short of it
      first = false;
    }
    chunk.set_data(buffer.data(), got);
    if (!writer->Write(chunk)) break;  // the server ended the call; Finish says why
    if (got < buffer.size()) break;
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return ToAbsl(status);
  return response.checkpoint_id();
}

}  // namespace tuner::worker
