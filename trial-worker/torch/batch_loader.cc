#include "trial-worker/torch/batch_loader.h"

#include <stdexcept>

namespace tuner::worker::torchtrainer {

BatchLoader::BatchLoader(const ImageSet& set, torch::Tensor order, int64_t batch_size,
                         const BatchTransform& transform, bool augment, uint64_t seed,
                         size_t prefetch)
    : set_(set),
      order_(std::move(order)),
      batch_size_(batch_size),
      transform_(transform),
      augment_(augment),
      seed_(seed),
      prefetch_(prefetch),
      producer_([this] { Produce(); }) {}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  producer_.join();
}

void BatchLoader::Produce() {
  std::string error;
  try {
    const int64_t n = order_.size(0);
    for (int64_t start = 0, index = 0; start < n; start += batch_size_, ++index) {
      torch::Tensor idx = order_.slice(0, start, std::min(n, start + batch_size_));
      std::mt19937_64 rng(MixSeed(seed_, static_cast<uint64_t>(index)));
      Batch batch;
      batch.inputs = transform_.Apply(set_.images.index_select(0, idx), augment_, rng);
      batch.labels = set_.labels.index_select(0, idx);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || queue_.size() < prefetch_; });
      if (stop_) return;
      queue_.push_back(std::move(batch));
      cv_.notify_all();
    }
  } catch (const c10::Error& e) {
    error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  error_ = error;
  cv_.notify_all();
}

std::optional<Batch> BatchLoader::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || done_; });
  if (!queue_.empty()) {
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    return batch;
  }
  if (!error_.empty()) throw std::runtime_error("batch loader: " + error_);
  return std::nullopt;
}

}  // namespace tuner::worker::torchtrainer
