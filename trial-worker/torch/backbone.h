// Backbone: the feature extractor under the transfer head. Implementations: ResNet (resnet50
// with torchvision's names, resnet18_cifar), LeNet5 and VggBn. MakeBackbone maps the spec's
// trainer.backbone.name to one.
#ifndef TUNER_TRIAL_WORKER_TORCH_BACKBONE_H_
#define TUNER_TRIAL_WORKER_TORCH_BACKBONE_H_

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
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
};

// A freshly initialised backbone for images of `input_size` pixels. INVALID_ARGUMENT
// "trainer.backbone.name: unknown backbone ..." for other names, or when the input is too
// small for the backbone (lenet5 needs >= 12 px, vgg_bn >= 32 px).
absl::StatusOr<std::shared_ptr<BackboneImpl>> MakeBackbone(const std::string& name,
                                                           int64_t input_size);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_BACKBONE_H_
