// Trainer factory: maps the spec's `trainer.kind` to a Trainer, and resolves the worker's
// --device. The only place that knows whether this binary was built with LibTorch, so the rest
// of the worker (and every test) compiles without torch headers.
#ifndef TUNER_TRIAL_WORKER_TRAINER_FACTORY_H_
#define TUNER_TRIAL_WORKER_TRAINER_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "trial-worker/trainer.h"

namespace tuner::worker {

// "synthetic" and "command" always; "torch" when built with TUNER_WITH_TORCH, else FAILED_PRECONDITION.
// Any other kind: INVALID_ARGUMENT naming `trainer.kind` and the allowed values.
absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::string& kind);

// True when this binary can run trainer.kind torch.
bool BuiltWithTorch();

// Validates and resolves a --device value: "cpu", "cuda:N" (N >= 0) or "auto". "auto" is
// "cpu" unless the torch build finds CUDA (not wired yet: "cpu" for now). "cuda:N" needs a torch
// build (FAILED_PRECONDITION otherwise). A malformed value is INVALID_ARGUMENT naming --device.
absl::StatusOr<std::string> ResolveDevice(const std::string& device);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRAINER_FACTORY_H_
