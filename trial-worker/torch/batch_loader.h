// BatchLoader: one pass over an ImageSet in a given order, with batches gathered and
// transformed on a background thread so loading and augmentation overlap with compute.
#ifndef TUNER_TRIAL_WORKER_TORCH_BATCH_LOADER_H_
#define TUNER_TRIAL_WORKER_TORCH_BATCH_LOADER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <torch/torch.h>

#include "trial-worker/torch/batch_transform.h"
#include "trial-worker/torch/datasets.h"

namespace tuner::worker::torchtrainer {

struct Batch {
  torch::Tensor inputs;  // float [B, 3, S, S]
  torch::Tensor labels;  // int64 [B]
};

// Thread-compatible from the consumer's side: one thread calls Next(). The set and the
// transform must outlive the loader. Batch i uses generator seed MixSeed(seed, i).
class BatchLoader {
 public:
  BatchLoader(const ImageSet& set, torch::Tensor order, int64_t batch_size,
              const BatchTransform& transform, bool augment, uint64_t seed, size_t prefetch = 3);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch; nullopt at the end. Throws std::runtime_error if the producer failed.
  std::optional<Batch> Next();

 private:
  void Produce();

  // Constant after construction.
  const ImageSet& set_;
  const torch::Tensor order_;
  const int64_t batch_size_;
  const BatchTransform& transform_;
  const bool augment_;
  const uint64_t seed_;
  const size_t prefetch_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;   // guarded by mu_
  bool done_ = false;         // guarded by mu_: the producer finished
  bool stop_ = false;         // guarded by mu_: the consumer went away
  std::string error_;         // guarded by mu_
  std::thread producer_;
};

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_BATCH_LOADER_H_
