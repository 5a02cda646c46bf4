// Backbone: the feature extractor under the transfer head. Implementations: the torchvision
// zoo with torchvision's module and parameter names (ResNet in resnet.h, the others in
// zoo.h), resnet18_cifar, LeNet5, SmallCnn and VggBn. MakeBackbone maps the spec's
// trainer.backbone.name to one.
#ifndef TUNER_TRIAL_WORKER_TORCH_BACKBONE_H_
#define TUNER_TRIAL_WORKER_TORCH_BACKBONE_H_

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "trial-worker/torch/state_dict_file.h"
#include "trial-worker/training/torch_config.h"

namespace tuner::worker::torchtrainer {

// A module that maps images [N, 3, H, W] to features [N, feature_dim()]. Stages are the
// backbone's blocks from input to output; "unfreeze the last N stages" counts from the end and
// N >= Stages().size() unfreezes the whole backbone (stem included).
class BackboneImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor Features(const torch::Tensor& images) = 0;
  virtual int64_t feature_dim() const = 0;
  virtual std::vector<std::shared_ptr<torch::nn::Module>> Stages() = 0;
  // Each stage's name: its torchvision module name ("layer4", "features.7",
  // "Mixed_7c"), found by its place in the module tree; a backbone whose stages are not one
  // module of the tree each (vgg16_bn) names them itself.
  virtual std::vector<std::string> StageNames();
};

// torchvision's usual initialisation: kaiming normal (fan_out) convolutions with zero bias,
// batch norm weight 1 and bias 0.
void InitConvBatchNorm(torch::nn::Module& module);

// Copies a torchvision state dict (a whole model's, e.g. resnet50-0676ba61.pth) into the
// backbone `name` built by MakeBackbone: the classifier and auxiliary heads
// (BackboneInfo::head_prefixes) are skipped, and DenseNet's old key names
// ("denselayer1.norm.1.weight") are read as torchvision reads them. INVALID_ARGUMENT naming
// `path` and the first mismatching entries, as LoadStateDict.
absl::Status LoadTorchvisionWeights(BackboneImpl& backbone, const std::string& name,
                                    const StateDict& state, const std::string& path);

// A freshly initialised backbone for images of `input_size` pixels. INVALID_ARGUMENT
// "trainer.backbone.name: unknown backbone ..." for other names, or when the input is too
// small for the backbone (BackboneInfo::min_input_size: lenet5 needs >= 12 px, inception_v3
// >= 75 px).
absl::StatusOr<std::shared_ptr<BackboneImpl>> MakeBackbone(const std::string& name,
                                                           int64_t input_size);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_BACKBONE_H_
