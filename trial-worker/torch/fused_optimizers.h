// Fused optimizer steps: torch::optim's Adam, RMSprop and SGD with the same options, the same
// per-parameter state (so checkpoints written by either load in the other) and the same
// update rule, but each parameter updated in one pass over its memory instead of the five to
// eight tensor ops libtorch's step() runs. For the transfer head over cached features the
// optimizer step is as expensive as the forward and backward pass together (2048 x units
// weights, a few hundred thousand floats read and written per op at batch 64; issue 14), and
// every op is a parallel region where a shared box's other load can stall a thread.
//
// The fused path takes contiguous float32 CPU parameters (every head and backbone here);
// anything else (CUDA, half, sparse, amsgrad, centered RMSprop) runs the base class's step.
// Results agree with the base class to float rounding (tests/torch/fused_optimizers_test.cc).
//
// Thread-compatible, as torch's optimizers.
#ifndef TUNER_TRIAL_WORKER_TORCH_FUSED_OPTIMIZERS_H_
#define TUNER_TRIAL_WORKER_TORCH_FUSED_OPTIMIZERS_H_

#include <vector>

#include <torch/torch.h>

namespace tuner::worker::torchtrainer {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedRMSprop : public torch::optim::RMSprop {
 public:
  using torch::optim::RMSprop::RMSprop;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedSGD : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// Whether `p` (and its gradient) can take the fused path.
bool FusibleParameter(const torch::Tensor& p);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_FUSED_OPTIMIZERS_H_
