// FeatureCache: frozen-backbone features kept on the node's disk, so trials that share a
// backbone, dataset, input size and augmentation view compute the backbone's forward pass
// once. Entries are keyed by a SHA-256 of everything that determines them; the directory is
// bounded (least recently used entries are evicted) and safe for several workers at once:
// an flock per key serialises computing it, and files appear by rename only.
#ifndef TUNER_TRIAL_WORKER_TORCH_FEATURE_CACHE_H_
#define TUNER_TRIAL_WORKER_TORCH_FEATURE_CACHE_H_

#include <cstdint>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"

namespace tuner::worker::torchtrainer {

struct FeatureSet {
  torch::Tensor features;  // float [N, D]
  torch::Tensor labels;    // int64 [N]
};

// Thread-compatible; processes coordinate through the file system.
class FeatureCache {
 public:
  // `dir` is created if needed (a "torch-features" folder inside it holds the entries).
  FeatureCache(std::string dir, int64_t max_bytes);

  // The entry for `key` (any text; it is hashed), computed by `compute` when absent.
  // `hit` (may be null) tells whether it came from disk.
  absl::StatusOr<FeatureSet> GetOrCompute(const std::string& key,
                                          const std::function<absl::StatusOr<FeatureSet>()>& compute,
                                          bool* hit = nullptr);

  // Removes least recently used entries until the folder holds at most max_bytes.
  void Evict();

 private:
  absl::StatusOr<FeatureSet> Read(const std::string& path);
  absl::Status Write(const std::string& path, const FeatureSet& set);

  const std::string dir_;
  const int64_t max_bytes_;
};

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_FEATURE_CACHE_H_
