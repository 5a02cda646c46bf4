// BatchTransform: uint8 image batches -> normalised float input for the network: gray to 3
// channels, optional augmentation (rotation, shift, horizontal flip as one affine resample,
// cutout), centre crop and resize to input_size, the backbone's mean / std
// (PreprocessConfig). Deterministic given the generator.
#ifndef TUNER_TRIAL_WORKER_TORCH_BATCH_TRANSFORM_H_
#define TUNER_TRIAL_WORKER_TORCH_BATCH_TRANSFORM_H_

#include <cstdint>
#include <random>

#include <torch/torch.h>

#include "trial-worker/training/torch_config.h"

namespace tuner::worker::torchtrainer {

// Stateless after construction; safe to call from several threads with their own generators.
class BatchTransform {
 public:
  BatchTransform(const AugmentConfig& augment, int64_t input_size,
                 const PreprocessConfig& preprocessing = {})
      : augment_(augment), input_size_(input_size), preprocessing_(preprocessing) {}

  // images: uint8 [B, C, H, W] with C 1 or 3. Returns float [B, 3, S, S].
  torch::Tensor Apply(const torch::Tensor& images, bool augment, std::mt19937_64& rng) const;

 private:
  const AugmentConfig augment_;
  const int64_t input_size_;
  const PreprocessConfig preprocessing_;
};

// SplitMix64: derives independent generator seeds (per epoch, batch, view) from one seed.
uint64_t MixSeed(uint64_t a, uint64_t b);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_BATCH_TRANSFORM_H_
