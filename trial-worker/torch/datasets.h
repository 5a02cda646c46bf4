// Image datasets in their official distribution formats: CIFAR-10 / CIFAR-100 binary and
// (Fashion-)MNIST IDX (gzip or raw). Images stay uint8 [N, C, H, W] in memory; batches are
// converted by BatchTransform. The validation split is taken from the training set.
#ifndef TUNER_TRIAL_WORKER_TORCH_DATASETS_H_
#define TUNER_TRIAL_WORKER_TORCH_DATASETS_H_

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "trial-worker/training/torch_config.h"

namespace tuner::worker::torchtrainer {

struct ImageSet {
  torch::Tensor images;  // uint8 [N, C, H, W], C = 3 (CIFAR) or 1 (MNIST)
  torch::Tensor labels;  // int64 [N]
  int64_t num_classes = 0;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct DatasetSplits {
  ImageSet train;
  ImageSet val;
};

// The official training (or test) set. NOT_FOUND naming the missing file;
// INVALID_ARGUMENT naming the file when its size or header is wrong. For CIFAR the path may
// also be the parent of the extracted folder (cifar-10-batches-bin, cifar-100-binary).
absl::StatusOr<ImageSet> LoadImageSet(const DatasetConfig& config, bool test_set);

// Training set split into train / validation: a shuffle seeded by config.split_seed, the first
// round(N * val_fraction) images for validation, then limit_train / limit_val applied.
absl::StatusOr<DatasetSplits> LoadSplits(const DatasetConfig& config);

// Rows `indices` (int64) of `set`.
ImageSet Subset(const ImageSet& set, const torch::Tensor& indices);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_DATASETS_H_
