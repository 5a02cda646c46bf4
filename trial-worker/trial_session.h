// TrialSession: one leased trial as the worker loop sees it while the trainer runs. It is the
// trainer's TrialContext (each epoch report becomes a ReportIntermediate) and owns the lease's
// heartbeat thread. It records why training had to stop: a report answered stop (pruned), a
// heartbeat answered stop (study stopped), the lease was lost, or the worker is shutting down.
#ifndef TUNER_TRIAL_WORKER_TRIAL_SESSION_H_
#define TUNER_TRIAL_WORKER_TRIAL_SESSION_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "proto/tuner.pb.h"
#include "trial-worker/trainer.h"
#include "trial-worker/worker_rpc.h"

namespace tuner::worker {

// Thread-safe: the trainer's thread calls ReportEpoch / StopRequested while the heartbeat
// thread runs. The rpc and shutdown flag must outlive the session.
class TrialSession final : public TrialContext {
 public:
  TrialSession(const WorkerRpc& rpc, const v1::Lease& lease, std::string tag,
               double lease_seconds, double rpc_timeout_seconds,
               const std::atomic<bool>& shutdown);
  ~TrialSession() override;
  TrialSession(const TrialSession&) = delete;
  TrialSession& operator=(const TrialSession&) = delete;

  // Heartbeats every lease_seconds / 3 until StopHeartbeat (or a stop answer / lost lease).
  void StartHeartbeat();
  void StopHeartbeat();

  bool ReportEpoch(const EpochReport& report) override;
  bool StopRequested() const override { return stop_.load() || shutdown_.load(); }

  bool lease_lost() const { return lease_lost_.load(); }
  bool study_stopped() const { return study_stopped_.load(); }
  bool pruned() const { return pruned_.load(); }
  bool shutting_down() const { return shutdown_.load(); }
  int reports_sent() const { return reports_sent_.load(); }
  // Why a report was refused for a reason other than the lease (e.g. INVALID_ARGUMENT).
  absl::Status report_error() const;
  std::string stop_reason() const;

  // Marks the lease lost (also used by the loop when a final RPC is refused).
  void LoseLease(const std::string& why);

 private:
  void HeartbeatLoop();
  void SetStopReason(const std::string& why);

  // Constant after construction.
  const WorkerRpc& rpc_;
  const v1::Lease lease_;
  const std::string tag_;
  const double lease_seconds_;
  const double rpc_timeout_seconds_;
  const std::atomic<bool>& shutdown_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> lease_lost_{false};
  std::atomic<bool> study_stopped_{false};
  std::atomic<bool> pruned_{false};
  std::atomic<bool> heartbeat_cancel_{false};
  std::atomic<int> reports_sent_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool heartbeat_done_ = false;  // guarded by mu_
  absl::Status report_error_;    // guarded by mu_
  std::string stop_reason_;      // guarded by mu_
  std::thread heartbeat_;
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRIAL_SESSION_H_
