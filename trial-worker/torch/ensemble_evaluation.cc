#include "trial-worker/torch/ensemble_evaluation.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "trial-worker/torch/datasets.h"
#include "trial-worker/torch/trial_run.h"

namespace tuner::worker::torchtrainer {
namespace {

// Evaluation reports nothing and is never told to stop mid-way (the job's lease is kept by
// the worker loop's heartbeat).
class SilentContext final : public TrialContext {
 public:
  bool ReportEpoch(const EpochReport&) override { return true; }
  bool StopRequested() const override { return false; }
};

double Accuracy(const torch::Tensor& probabilities, const torch::Tensor& labels) {
  return probabilities.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
}

}  // namespace

absl::StatusOr<EnsembleResult> EvaluateEnsemble(const EnsembleAssignment& a) {
  if (a.members.empty()) return absl::InvalidArgumentError("members: must not be empty");
  // The dataset section does not depend on the params: the first member's config names it.
  absl::StatusOr<TorchTrainerConfig> config =
      ParseTorchTrainerConfig(a.trainer_config, a.members[0].params);
  if (!config.ok()) return config.status();
  absl::StatusOr<ImageSet> test = LoadImageSet(config->dataset, /*test_set=*/true);
  if (!test.ok()) return test.status();

  EnsembleResult result;
  result.test_images = test->size();
  torch::Tensor sum;
  SilentContext context;
  for (const EnsembleMemberAssignment& member : a.members) {
    absl::StatusOr<nlohmann::json> meta = ReadCheckpointMeta(member.checkpoint_path);
    if (!meta.ok()) {
      return absl::Status(meta.status().code(), absl::StrCat("trial ", member.trial_id, ": ",
                                                             meta.status().message()));
    }
    TrialAssignment t;
    t.study_id = a.study_id;
    t.trial_id = member.trial_id;
    t.params = member.params;
    t.trainer_config = a.trainer_config;
    t.start_epoch = meta->value("epoch", 0);
    t.budget_epochs = t.start_epoch + 1;  // only the checkpoint's epoch is used
    t.executions = meta->value("executions", 1);
    t.seed = meta->value("seed", uint64_t{0});
    t.resume_checkpoint_path = member.checkpoint_path;
    t.device = a.device;
    t.threads = a.threads;
    t.cache_dir = a.cache_dir;
    TrialRun run(t, context);
    absl::StatusOr<torch::Tensor> probabilities = run.Probabilities(*test, "test");
    if (!probabilities.ok()) {
      return absl::Status(probabilities.status().code(),
                          absl::StrCat("trial ", member.trial_id, ": ",
                                       probabilities.status().message()));
    }
    const double accuracy = Accuracy(*probabilities, test->labels);
    result.member_test_accuracies.push_back(accuracy);
    sum = sum.defined() ? sum + *probabilities : probabilities->clone();
    spdlog::info("study {} ensemble {}: member trial {} test accuracy {:.4f}", a.study_id,
                 a.ensemble_id, member.trial_id, accuracy);
  }
  result.test_accuracy = Accuracy(sum / static_cast<double>(a.members.size()), test->labels);
  return result;
}

}  // namespace tuner::worker::torchtrainer
