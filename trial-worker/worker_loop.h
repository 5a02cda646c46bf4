// WorkerLoop: the trial-worker's client loop. Registers with the tuner-server, long-polls for
// trials, and for each leased trial downloads its resume checkpoint, heartbeats on its own
// thread, runs the Trainer (reporting every epoch), uploads the checkpoint and completes or
// fails the trial. It waits with backoff while the server is unreachable and keeps serving
// after a trial's error.
//
// Outcomes of one trial (docs/worker.md has the table):
//   finished                      -> UploadCheckpoint (when asked and written), CompleteTrial
//   a report answered stop (prune) -> CompleteTrial with the epochs done
//   heartbeat stop / lease lost    -> dropped (the server already re-queued or stopped it)
//   trainer error                 -> FailTrial(reason, retryable unless INVALID_ARGUMENT,
//                                    NOT_FOUND or FAILED_PRECONDITION)
//   worker shutting down          -> FailTrial(retryable) so the trial is re-queued at once
#ifndef TUNER_TRIAL_WORKER_WORKER_LOOP_H_
#define TUNER_TRIAL_WORKER_WORKER_LOOP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "proto/tuner.pb.h"
#include "trial-worker/trainer.h"

namespace tuner::worker {

class WorkerRpc;

using TrainerFactory =
    std::function<absl::StatusOr<std::unique_ptr<Trainer>>(const std::string& kind)>;

struct WorkerOptions {
  std::string server_address;          // host:port of the tuner-server
  std::string name;                    // unique per process; empty: hostname:pid
  std::vector<std::string> devices;    // reported at registration; empty: {device}
  std::string device = "cpu";          // resolved: cpu | cuda:N
  int threads = 0;                     // CPU threads for the trainer; 0 = library default
  std::string cache_dir;               // node-local cache handed to trainers
  std::string work_dir;                // checkpoints in transit; empty: a temp dir, removed after
  std::string trial_log_dir;           // command trainer's per-trial logs; empty: work_dir/trial-logs
  double wait_seconds = 10;            // AcquireTrial long-poll
  int max_trials = 0;                  // stop after this many trials (any outcome); 0 = no limit
  double idle_exit_seconds = 0;        // exit after this long without a trial; 0 = never
  // Channel security; null = insecure. Used only by the constructor without a channel.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string tls_server_name;         // name checked in the server certificate; empty: host
  // Added to every call (keys lower-case), e.g. {"authorization", "Bearer ..."}.
  std::map<std::string, std::string> metadata;
  double initial_backoff_seconds = 0.2;
  double max_backoff_seconds = 5;
  double rpc_timeout_seconds = 10;     // deadline of each unary call (AcquireTrial: + wait)
  // Makes the trainer of a trainer.kind; null = MakeTrainer. One trainer is kept per kind.
  TrainerFactory trainer_factory;
};

// What one Run did, for logs, tests and benchmarks.
struct WorkerStats {
  int trials_completed = 0;            // CompleteTrial acknowledged (pruned ones included)
  int trials_failed = 0;               // FailTrial acknowledged
  int trials_dropped = 0;              // lease lost, study stopped, or the server refused
  int ensembles_completed = 0;         // CompleteEnsemble acknowledged
  int ensembles_failed = 0;            // FailEnsemble acknowledged
  int64_t worker_id = 0;
};

// Thread-compatible: Run on one thread at a time; stats() after Run returns.
class WorkerLoop {
 public:
  // Connects to options.server_address with options.credentials (MakeWorkerChannel).
  explicit WorkerLoop(WorkerOptions options);
  // Uses the given channel (tests: an in-process server); server_address is only for logs.
  WorkerLoop(WorkerOptions options, std::shared_ptr<grpc::Channel> channel);
  ~WorkerLoop();
  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  // Serves trials until stop_flag turns true (the current trial is abandoned cleanly: the
  // trainer sees StopRequested, the trial is failed as retryable unless it finished),
  // max_trials are done, or idle_exit_seconds pass without a trial: then OK. Errors: the
  // server refused the registration (e.g. UNAUTHENTICATED), it stayed unreachable past
  // idle_exit_seconds (UNAVAILABLE), or the work dir cannot be created.
  absl::Status Run(const std::atomic<bool>& stop_flag);

  const WorkerStats& stats() const { return stats_; }
  const std::string& name() const { return options_.name; }

 private:
  absl::Status Register(const std::atomic<bool>& stop_flag, double idle_deadline_seconds);
  // One leased trial, start to end. Never fails the loop: outcomes go to stats_.
  void RunTrial(const v1::AcquireTrialResponse& trial, const std::atomic<bool>& stop_flag);
  // One leased ensemble job (worker_loop_ensemble.cc): downloads the members' checkpoints,
  // evaluates them with the trainer and sends CompleteEnsemble or FailEnsemble.
  void RunEnsemble(const v1::EnsembleJob& job, const std::atomic<bool>& stop_flag);
  absl::StatusOr<Trainer*> TrainerFor(const std::string& kind);
  absl::Status PrepareWorkDir();

  // Constant after construction.
  WorkerOptions options_;
  std::unique_ptr<WorkerRpc> rpc_;

  // Touched by Run's thread only.
  bool owns_work_dir_ = false;        // made by us: removed by the destructor
  int64_t worker_id_ = 0;
  double lease_seconds_ = 30;
  std::map<std::string, std::unique_ptr<Trainer>> trainers_;  // by trainer.kind
  WorkerStats stats_;
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_WORKER_LOOP_H_
