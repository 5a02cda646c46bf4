// The LibTorch trainer (trainer.kind: torch): transfer learning with a torchvision ResNet50 or
// a small backbone trained from scratch, on CIFAR-10/100 or (Fashion-)MNIST. This header is
// the only part the rest of the worker sees, so it includes no torch headers.
// docs/trainer.md describes the configuration and the measured figures.
#ifndef TUNER_TRIAL_WORKER_TORCH_TORCH_TRAINER_H_
#define TUNER_TRIAL_WORKER_TORCH_TORCH_TRAINER_H_

#include <memory>

#include "trial-worker/trainer.h"

namespace tuner::worker {

// A new torch trainer. Train never throws: torch errors become absl statuses
// (INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION for a bad trial, INTERNAL otherwise).
std::unique_ptr<Trainer> MakeTorchTrainer();

// True when this libtorch can use CUDA device `index` (for the worker's --device auto).
bool TorchCudaAvailable(int index = 0);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TORCH_TORCH_TRAINER_H_
