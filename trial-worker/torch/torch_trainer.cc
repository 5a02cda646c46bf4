#include "trial-worker/torch/torch_trainer.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "trial-worker/torch/ensemble_evaluation.h"
#include "trial-worker/torch/trial_run.h"

namespace tuner::worker {
namespace {

// Thread-compatible: one Train at a time (TrialRun sets torch's global seed and threads).
class TorchTrainer final : public Trainer {
 public:
  absl::StatusOr<TrainResult> Train(const TrialAssignment& assignment,
                                    TrialContext& context) override {
    try {
      torchtrainer::TrialRun run(assignment, context);
      return run.Run();
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("torch: ", e.what_without_backtrace()));
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("torch trainer: out of memory");
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("torch trainer: ", e.what()));
    }
  }

  absl::StatusOr<EnsembleResult> EvaluateEnsemble(const EnsembleAssignment& assignment) override {
    try {
      return torchtrainer::EvaluateEnsemble(assignment);
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("torch: ", e.what_without_backtrace()));
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("torch trainer: out of memory");
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("torch trainer: ", e.what()));
    }
  }
};

}  // namespace

std::unique_ptr<Trainer> MakeTorchTrainer() { return std::make_unique<TorchTrainer>(); }

bool TorchCudaAvailable(int index) {
  try {
    return torch::cuda::is_available() && index < static_cast<int>(torch::cuda::device_count());
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace tuner::worker
