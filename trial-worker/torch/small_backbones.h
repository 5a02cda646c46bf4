// Small backbones trained from scratch for CPU-only users (the seed projects' models): LeNet5
// and a 13-conv VGG with batch norm. Both end in features for the shared transfer head.
#ifndef TUNER_TRIAL_WORKER_TORCH_SMALL_BACKBONES_H_
#define TUNER_TRIAL_WORKER_TORCH_SMALL_BACKBONES_H_

#include <torch/torch.h>

#include "trial-worker/torch/backbone.h"

namespace tuner::worker::torchtrainer {

// conv 5x5 (6, pad 2) - relu - maxpool 2 - conv 5x5 (16) - relu - maxpool 2 - flatten.
// 400 features at 28 px. Needs input_size >= 12.
class LeNet5Impl : public BackboneImpl {
 public:
  explicit LeNet5Impl(int64_t input_size);
  torch::Tensor Features(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return feature_dim_; }
  std::vector<std::shared_ptr<torch::nn::Module>> Stages() override;

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  int64_t feature_dim_ = 0;
};

// The quickstart's CPU model: two blocks of conv 3x3 (32, then 64 channels) - batch norm -
// relu - max pool 2, then flatten (64 * (S/4)^2 features: 3136 at 28 px). Needs >= 8 px.
class SmallCnnImpl : public BackboneImpl {
 public:
  explicit SmallCnnImpl(int64_t input_size);
  torch::Tensor Features(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return feature_dim_; }
  std::vector<std::shared_ptr<torch::nn::Module>> Stages() override;

 private:
  torch::nn::Sequential block1{nullptr}, block2{nullptr};
  int64_t feature_dim_ = 0;
};

// VGG16-BN's 13 convs (3x3, BN, ReLU) in five stages, each ending in a 2x2 max pool, then a
// global average pool: 512 features. Needs input_size >= 32.
class VggBnImpl : public BackboneImpl {
 public:
  VggBnImpl();
  torch::Tensor Features(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return 512; }
  std::vector<std::shared_ptr<torch::nn::Module>> Stages() override;

 private:
  std::vector<torch::nn::Sequential> stages_;
};

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_SMALL_BACKBONES_H_
