// Top-k ensemble evaluation for the torch trainer: each member's model is rebuilt from its
// params, the study's trainer section and its checkpoint (a TrialRun resumed at the
// checkpoint's epoch), evaluated on the dataset's official test set (never seen in training
// nor in validation), and the members' softmax probabilities are averaged.
#ifndef TUNER_TRIAL_WORKER_TORCH_ENSEMBLE_EVALUATION_H_
#define TUNER_TRIAL_WORKER_TORCH_ENSEMBLE_EVALUATION_H_

#include "absl/status/statusor.h"
#include "trial-worker/trainer.h"

namespace tuner::worker::torchtrainer {

// Single thread (sets torch's global seed and thread count). May throw c10::Error; the
// TorchTrainer catches. Errors: the config's and the checkpoints' (NOT_FOUND,
// FAILED_PRECONDITION, INVALID_ARGUMENT), so a bad job is not retried.
absl::StatusOr<EnsembleResult> EvaluateEnsemble(const EnsembleAssignment& assignment);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_ENSEMBLE_EVALUATION_H_
