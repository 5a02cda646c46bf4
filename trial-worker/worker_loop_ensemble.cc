// WorkerLoop::RunEnsemble: one leased ensemble job, from the members' checkpoint downloads to
// CompleteEnsemble / FailEnsemble. The job's lease is kept by the same heartbeat as a trial's.
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

void WorkerLoop::RunEnsemble(const v1::EnsembleJob& job, const std::atomic<bool>& stop_flag) {
  const v1::Lease& lease = job.lease();
  const std::string tag = absl::StrCat("worker ", options_.name, " study ", job.study_id(),
                                       " ensemble ", lease.ensemble_id());
  spdlog::info("{}: leased (attempt {}, {} members)", tag, lease.attempt(), job.members_size());
  TrialSession session(*rpc_, lease, tag, lease_seconds_, options_.rpc_timeout_seconds,
                       stop_flag);
  session.StartHeartbeat();

  std::vector<std::string> paths;
  absl::StatusOr<EnsembleResult> evaluated = [&]() -> absl::StatusOr<EnsembleResult> {
    EnsembleAssignment a;
    a.study_id = job.study_id();
    a.ensemble_id = lease.ensemble_id();
    absl::StatusOr<nlohmann::json> config = TrainerConfigFromJson(job.trainer_config_json());
    if (!config.ok()) return config.status();
    a.trainer_config = std::move(*config);
    absl::StatusOr<std::string> kind = TrainerKind(a.trainer_config);
    if (!kind.ok()) return kind.status();
    absl::StatusOr<Trainer*> trainer = TrainerFor(*kind);
    if (!trainer.ok()) return trainer.status();
    if (job.members().empty()) return absl::InvalidArgumentError("members: must not be empty");
    const double timeout = std::max(60.0, options_.rpc_timeout_seconds);
    for (const v1::EnsembleMember& member : job.members()) {
      EnsembleMemberAssignment m;
      m.trial_id = member.trial_id();
      absl::StatusOr<search::Params> params = ParamsFromProto(member.params());
      if (!params.ok()) return params.status();
      m.params = std::move(*params);
      m.checkpoint_path = absl::StrCat(options_.work_dir, "/ensemble-", lease.ensemble_id(),
                                       "-trial-", member.trial_id(), ".ckpt");
      paths.push_back(m.checkpoint_path);
      absl::Status s =
          rpc_->Download(lease, member.checkpoint_id(), m.checkpoint_path, timeout);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("downloading checkpoint ",
                                                   member.checkpoint_id(), " of trial ",
                                                   member.trial_id(), ": ", s.message()));
      }
      if (session.StopRequested()) return absl::UnavailableError("stopped while downloading");
      a.members.push_back(std::move(m));
    }
    a.device = options_.device;
    a.threads = options_.threads;
    a.cache_dir = options_.cache_dir;
    return (*trainer)->EvaluateEnsemble(a);
  }();
  session.StopHeartbeat();

  const auto call = [&](const char* method, const WorkerRpc::StartCall& start) {
    const grpc::Status status = rpc_->Call(tag, method, start, options_.rpc_timeout_seconds,
                                           lease_seconds_, nullptr);
    if (!status.ok()) {
      spdlog::warn("{}: {} not accepted: {}", tag, method, status.error_message());
    }
    return status.ok();
  };
  v1::Ensemble response;
  if (session.lease_lost()) {
    spdlog::info("{}: dropped ({})", tag, session.stop_reason());
  } else if (evaluated.ok()) {
    v1::CompleteEnsembleRequest request;
    *request.mutable_lease() = lease;
    request.set_test_accuracy(evaluated->test_accuracy);
    for (double accuracy : evaluated->member_test_accuracies) {
      request.add_member_test_accuracies(accuracy);
    }
    request.set_test_images(evaluated->test_images);
    if (call("CompleteEnsemble", [&](grpc::ClientContext* context,
                                     std::function<void(grpc::Status)> done) {
          rpc_->stub().async()->CompleteEnsemble(context, &request, &response, std::move(done));
        })) {
      ++stats_.ensembles_completed;
      spdlog::info("{}: test accuracy {:.4f} on {} images", tag, evaluated->test_accuracy,
                   evaluated->test_images);
    }
  } else {
    const bool retryable = stop_flag.load() || IsRetryable(evaluated.status().code());
    v1::FailEnsembleRequest request;
    *request.mutable_lease() = lease;
    request.set_reason(std::string(evaluated.status().message()));
    request.set_retryable(retryable);
    spdlog::warn("{}: failing ({}): {}", tag, retryable ? "retryable" : "not retryable",
                 evaluated.status().ToString());
    if (call("FailEnsemble", [&](grpc::ClientContext* context,
                                 std::function<void(grpc::Status)> done) {
          rpc_->stub().async()->FailEnsemble(context, &request, &response, std::move(done));
        })) {
      ++stats_.ensembles_failed;
    }
  }
  for (const std::string& path : paths) std::remove(path.c_str());
}

}  // namespace tuner::worker
