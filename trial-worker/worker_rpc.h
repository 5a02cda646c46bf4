// WorkerRpc: the trial-worker's side of WorkerService calls. Every call gets a deadline and the
// configured per-call metadata; transport errors (UNAVAILABLE, DEADLINE_EXCEEDED) are retried
// with capped exponential backoff; a waiting call is cancelled when a caller's flag turns true.
// Checkpoint files move here too (download verified against the server's sha256).
#ifndef TUNER_TRIAL_WORKER_WORKER_RPC_H_
#define TUNER_TRIAL_WORKER_WORKER_RPC_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "proto/tuner.grpc.pb.h"

namespace tuner::worker {

// Capped exponential backoff: initial, 2x, 4x, ... up to max.
class Backoff {
 public:
  Backoff(double initial_seconds, double max_seconds)
      : initial_(initial_seconds), max_(max_seconds), next_(initial_seconds) {}
  // The wait before the next attempt; doubles the one after.
  double Next();
  void Reset() { next_ = initial_; }

 private:
  double initial_;
  double max_;
  double next_;
};

// Sleeps in small slices; false when cancel() turned true first (cancel may be null).
bool SleepUnlessCancelled(double seconds, const std::function<bool()>& cancel);

// True for the codes that say "the call did not get through", worth retrying.
bool IsTransportError(grpc::StatusCode code);

absl::Status ToAbsl(const grpc::Status& status);

// A channel to the tuner-server whose own reconnect backoff stays short (≤ 2 s), so a worker
// notices a restarted server quickly. Null credentials mean insecure; tls_server_name, when
// set, is the name checked in the server's certificate.
std::shared_ptr<grpc::Channel> MakeWorkerChannel(
    const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& tls_server_name = "");

// Thread-safe: the worker's main thread and its heartbeat thread share one instance.
class WorkerRpc {
 public:
  // Starts one asynchronous unary call on the stub's async() interface; calls done when over.
  using StartCall =
      std::function<void(grpc::ClientContext* context, std::function<void(grpc::Status)> done)>;
  // Polled while a call or a backoff waits; true cancels. Null: never.
  using CancelFn = std::function<bool()>;

  WorkerRpc(std::shared_ptr<grpc::Channel> channel, std::map<std::string, std::string> metadata,
            std::string server_label, double initial_backoff_seconds,
            double max_backoff_seconds);

  v1::WorkerService::Stub& stub() const { return *stub_; }
  const std::string& server_label() const { return server_label_; }

  // One attempt with a deadline of timeout_seconds; cancelled (CANCELLED) once cancel() is true.
  grpc::Status CallOnce(const StartCall& start, double timeout_seconds,
                        const CancelFn& cancel) const;

  // Retries transport errors for up to retry_for_seconds (< 0: until cancel()), logging
  // "tuner-server at ADDR unreachable, retrying in Xs" with log_tag in front. Returns the last
  // status: OK, the server's answer, a transport error once the time is up, or CANCELLED.
  grpc::Status Call(const std::string& log_tag, const char* method, const StartCall& start,
                    double timeout_seconds, double retry_for_seconds,
                    const CancelFn& cancel) const;

  // Streams a checkpoint into path; DATA_LOSS when its size or sha256 differs from what the
  // server announced in the first chunk.
  // The lease (the trial's, or the ensemble job's) is what lets the server hand it out.
  absl::Status Download(const v1::Lease& lease, const std::string& checkpoint_id,
                        const std::string& path, double timeout_seconds) const;

  // Streams path in 1 MiB chunks (the first carries the lease, epoch and the file's size); the
  // checkpoint id.
  absl::StatusOr<std::string> Upload(const v1::Lease& lease, int epoch, const std::string& path,
                                     double timeout_seconds) const;

 private:
  void Prepare(grpc::ClientContext& context, double timeout_seconds) const;

  // Constant after construction.
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::WorkerService::Stub> stub_;
  const std::map<std::string, std::string> metadata_;
  const std::string server_label_;
  const double initial_backoff_seconds_;
  const double max_backoff_seconds_;
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_WORKER_RPC_H_
