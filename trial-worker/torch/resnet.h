// ResNet with torchvision's module and parameter names (conv1, bn1, layer1.0.conv1, ...,
// layer4.2.bn3, layerN.0.downsample.0/1, fc), so a torchvision state dict loads by name.
// One implementation for torchvision's resnet18/34 (BasicBlock) and resnet50/101/152
// (Bottleneck, v1.5: stride on the 3x3 conv); ResNet18Cifar is the CIFAR variant with a 3x3
// stride-1 stem and no max pool.
#ifndef TUNER_TRIAL_WORKER_TORCH_RESNET_H_
#define TUNER_TRIAL_WORKER_TORCH_RESNET_H_

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "trial-worker/torch/backbone.h"

namespace tuner::worker::torchtrainer {

// torchvision's Bottleneck (expansion 4).
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

// torchvision's BasicBlock (expansion 1).
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

struct ResNetOptions {
  bool bottleneck = true;                  // Bottleneck (resnet50) or BasicBlock
  std::vector<int64_t> layers = {3, 4, 6, 3};
  bool imagenet_stem = true;               // 7x7/2 conv + 3x3/2 max pool; else 3x3/1 conv
  int64_t num_classes = 1000;              // 0: no fc (a backbone only)
};

// Thread-compatible like every torch module.
class ResNetImpl : public BackboneImpl {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  // Logits through fc (num_classes > 0).
  torch::Tensor forward(torch::Tensor x);
  torch::Tensor Features(const torch::Tensor& images) override;
  int64_t feature_dim() const override { return feature_dim_; }
  // layer1 .. layer4 (the stem counts with the whole backbone only).
  std::vector<std::shared_ptr<torch::nn::Module>> Stages() override;

 private:
  torch::Tensor Trunk(torch::Tensor x);
  torch::nn::Sequential MakeLayer(int64_t planes, int64_t blocks, int64_t stride);

  const ResNetOptions options_;
  int64_t in_planes_ = 64;
  int64_t feature_dim_ = 0;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ResNet);

ResNetOptions ResNet50Options(int64_t num_classes = 1000);
// torchvision's resnet18, resnet34, resnet50, resnet101 or resnet152; nullopt for other names.
std::optional<ResNetOptions> TorchvisionResNetOptions(const std::string& name,
                                                      int64_t num_classes = 1000);
ResNetOptions ResNet18CifarOptions();

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_RESNET_H_
