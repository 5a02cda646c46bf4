// WorkerLoop::RunTrial: one leased trial from download to CompleteTrial / FailTrial.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "trial-worker/lease_proto.h"
#include "trial-worker/trial_session.h"
#include "trial-worker/worker_loop.h"
#include "trial-worker/worker_rpc.h"

namespace tuner::worker {
namespace {

// Everything but the files: params, trainer section, epochs, seed, objective.
absl::StatusOr<TrialAssignment> AssignmentFromProto(const v1::AcquireTrialResponse& trial) {
  TrialAssignment a;
  a.study_id = trial.study_id();
  a.trial_id = trial.lease().trial_id();
  a.trial_number = trial.trial_number();
  absl::StatusOr<search::Params> params = ParamsFromProto(trial.params());
  if (!params.ok()) return params.status();
  a.params = std::move(*params);
  absl::StatusOr<nlohmann::json> config = TrainerConfigFromJson(trial.trainer_config_json());
  if (!config.ok()) return config.status();
  a.trainer_config = std::move(*config);
  if (!trial.objective_metric().empty()) a.objective_metric = trial.objective_metric();
  a.maximize = trial.direction() != v1::MINIMIZE;
  a.reduce_last = trial.objective_reduce() == v1::REDUCE_LAST;
  a.start_epoch = trial.start_epoch();
  a.budget_epochs = trial.budget_epochs();
  a.executions = std::max(1, trial.executions());
  a.seed = trial.seed();
  return a;
}

}  // namespace

void WorkerLoop::RunTrial(const v1::AcquireTrialResponse& trial,
                          const std::atomic<bool>& stop_flag) {
  const v1::Lease& lease = trial.lease();
  const std::string tag = absl::StrCat("worker ", options_.name, " study ", trial.study_id(),
                                       " trial ", lease.trial_id());
  spdlog::info("{}: leased (attempt {}, epochs {}..{}, {} execution(s){})", tag, lease.attempt(),
               trial.start_epoch() + 1, trial.budget_epochs(), std::max(1, trial.executions()),
               trial.resume_checkpoint_id().empty() ? "" : ", resuming from a checkpoint");
  const std::string file_prefix = absl::StrCat(options_.work_dir, "/trial-", lease.trial_id(),
                                               "-attempt-", lease.attempt());
  TrialSession session(*rpc_, lease, tag, lease_seconds_, options_.rpc_timeout_seconds,
                       stop_flag);
  session.StartHeartbeat();

  // A transfer is retried while the server is away, for about one lease.
  const auto with_retries = [&](const char* what, const std::function<absl::Status()>& call) {
    Backoff backoff(options_.initial_backoff_seconds, options_.max_backoff_seconds);
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      absl::Status s = call();
      if (s.ok() || s.code() != absl::StatusCode::kUnavailable) return s;
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (elapsed >= lease_seconds_ || session.StopRequested()) return s;
      const double wait = std::min(backoff.Next(), lease_seconds_ - elapsed);
      spdlog::warn("{}: tuner-server at {} unreachable, retrying in {:.1f}s ({}: {})", tag,
                   options_.server_address, wait, what, std::string(s.message()));
      SleepUnlessCancelled(wait, [&] { return session.StopRequested(); });
    }
  };

  std::string resume_path;
  std::string out_path;
  absl::StatusOr<TrainResult> trained = [&]() -> absl::StatusOr<TrainResult> {
    absl::StatusOr<TrialAssignment> a = AssignmentFromProto(trial);
    if (!a.ok()) return a.status();
    absl::StatusOr<std::string> kind = TrainerKind(a->trainer_config);
    if (!kind.ok()) return kind.status();
    absl::StatusOr<Trainer*> trainer = TrainerFor(*kind);
    if (!trainer.ok()) return trainer.status();
    if (a->start_epoch > 0 && trial.resume_checkpoint_id().empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "start_epoch is ", a->start_epoch, " but the lease names no resume checkpoint"));
    }
    if (!trial.resume_checkpoint_id().empty()) {
      resume_path = file_prefix + "-resume.ckpt";
      const double timeout = std::max(60.0, options_.rpc_timeout_seconds);
      absl::Status s = with_retries("DownloadCheckpoint", [&] {
        return rpc_->Download(lease, trial.resume_checkpoint_id(), resume_path, timeout);
      });
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("downloading checkpoint ",
                                                   trial.resume_checkpoint_id(), ": ",
                                                   s.message()));
      }
      a->resume_checkpoint_path = resume_path;
    }
    if (trial.save_checkpoint()) {
      out_path = file_prefix + ".ckpt";
      a->checkpoint_out_path = out_path;
    }
    a->device = options_.device;
    a->threads = options_.threads;
    a->cache_dir = options_.cache_dir;
    a->work_dir = options_.work_dir;
    a->log_dir = options_.trial_log_dir.empty() ? options_.work_dir + "/trial-logs"
                                                : options_.trial_log_dir;
    a->attempt = static_cast<int>(lease.attempt());
    return (*trainer)->Train(*a, session);
  }();

  const bool shutting_down = stop_flag.load();
  const double final_retry = shutting_down ? std::min(lease_seconds_, 5.0) : lease_seconds_;
  // The final call; false when the server refused or stayed away (the trial is then dropped).
  const auto finish = [&](const char* method, const WorkerRpc::StartCall& start) {
    session.StopHeartbeat();  // kept up until now so a long upload does not lose the lease
    const grpc::Status status = rpc_->Call(tag, method, start, options_.rpc_timeout_seconds,
                                           final_retry, nullptr);
    if (status.ok()) return true;
    spdlog::warn("{}: {} not accepted, trial dropped: {}", tag, method, status.error_message());
    ++stats_.trials_dropped;
    return false;
  };
  const auto fail = [&](const absl::Status& why, bool retryable) {
    v1::FailTrialRequest request;
    *request.mutable_lease() = lease;
    request.set_reason(std::string(why.message()));
    request.set_retryable(retryable);
    v1::FailTrialResponse response;
    spdlog::warn("{}: failing ({}): {}", tag, retryable ? "retryable" : "not retryable",
                 why.ToString());
    if (finish("FailTrial", [&](grpc::ClientContext* context,
                                std::function<void(grpc::Status)> done) {
          rpc_->stub().async()->FailTrial(context, &request, &response, std::move(done));
        })) {
      ++stats_.trials_failed;
      spdlog::info("{}: failed; the trial is now {}", tag,
                   v1::TrialState_Name(response.state()));
    }
  };

  if (session.lease_lost() || session.study_stopped()) {
    spdlog::info("{}: dropped ({})", tag, session.stop_reason());
    ++stats_.trials_dropped;
  } else if (!trained.ok()) {
    fail(trained.status(), IsRetryable(trained.status().code()));
  } else if (!session.report_error().ok()) {
    fail(session.report_error(), IsRetryable(session.report_error().code()));
  } else if (trained->stopped && session.shutting_down() && !session.pruned()) {
    // Shutting down (SIGINT/SIGTERM): hand the trial back at once instead of letting its
    // lease run out.
    fail(absl::UnavailableError(absl::StrCat("trial-worker ", options_.name,
                                             " shut down after epoch ", trained->epochs_done)),
         /*retryable=*/true);
  } else if (trained->epochs_done == 0) {
    spdlog::info("{}: dropped: stopped before its first epoch ({})", tag, session.stop_reason());
    ++stats_.trials_dropped;
  } else if (!std::isfinite(trained->value)) {
    fail(absl::FailedPreconditionError(
             absl::StrCat("the trainer returned a non-finite value at epoch ",
                          trained->epochs_done)),
         /*retryable=*/false);
  } else {
    v1::CompleteTrialRequest request;
    *request.mutable_lease() = lease;
    request.set_value(trained->value);
    for (const auto& [name, value] : trained->metrics) {
      if (std::isfinite(value)) (*request.mutable_metrics())[name] = value;
    }
    request.set_epochs_done(trained->epochs_done);
    bool go = true;
    if (trained->checkpoint_written && !trained->stopped) {
      const double timeout = std::max(60.0, options_.rpc_timeout_seconds);
      absl::StatusOr<std::string> id;
      absl::Status s = with_retries("UploadCheckpoint", [&] {
        id = rpc_->Upload(lease, trained->epochs_done, out_path, timeout);
        return id.status();
      });
      const bool lease_gone = s.code() == absl::StatusCode::kFailedPrecondition ||
                              s.code() == absl::StatusCode::kNotFound ||
                              s.code() == absl::StatusCode::kUnavailable;
      if (s.ok()) {
        request.set_checkpoint_id(*id);
      } else if (lease_gone) {
        spdlog::warn("{}: checkpoint upload not accepted, trial dropped: {}", tag, s.ToString());
        ++stats_.trials_dropped;
        go = false;
      } else {
        // Without a checkpoint a promoted trial trains again from scratch: slower, not wrong.
        spdlog::warn("{}: checkpoint upload failed, completing without it: {}", tag,
                     s.ToString());
      }
    }
    v1::CompleteTrialResponse response;
    if (go && finish("CompleteTrial", [&](grpc::ClientContext* context,
                                          std::function<void(grpc::Status)> done) {
          rpc_->stub().async()->CompleteTrial(context, &request, &response, std::move(done));
        })) {
      ++stats_.trials_completed;
      spdlog::info("{}: {} at epoch {} with value {:.6g}{} ({} reports)", tag,
                   v1::TrialState_Name(response.state()), trained->epochs_done, trained->value,
                   trained->stopped ? " (stopped early)" : "", session.reports_sent());
    }
  }
  for (const std::string& path : {resume_path, out_path}) {
    if (!path.empty()) std::remove(path.c_str());
  }
}

}  // namespace tuner::worker
