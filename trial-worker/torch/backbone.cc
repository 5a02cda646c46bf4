#include "trial-worker/torch/backbone.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "trial-worker/torch/resnet.h"
#include "trial-worker/torch/small_backbones.h"

namespace tuner::worker::torchtrainer {

absl::StatusOr<std::shared_ptr<BackboneImpl>> MakeBackbone(const std::string& name,
                                                           int64_t input_size) {
  const auto too_small = [&](int64_t min) {
    return absl::InvalidArgumentError(absl::StrCat("trainer.input_size: ", name, " needs >= ",
                                                   min, " pixels (got ", input_size, ")"));
  };
  if (name == "resnet50") {
    if (input_size < 32) return too_small(32);
    return std::static_pointer_cast<BackboneImpl>(
        std::make_shared<ResNetImpl>(ResNet50Options(/*num_classes=*/0)));
  }
  if (name == "resnet18_cifar") {
    if (input_size < 8) return too_small(8);
    return std::static_pointer_cast<BackboneImpl>(
        std::make_shared<ResNetImpl>(ResNet18CifarOptions()));
  }
  if (name == "lenet5") {
    if (input_size < 12) return too_small(12);
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<LeNet5Impl>(input_size));
  }
  if (name == "small_cnn") {
    if (input_size < 8) return too_small(8);
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<SmallCnnImpl>(input_size));
  }
  if (name == "vgg_bn") {
    if (input_size < 32) return too_small(32);
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<VggBnImpl>());
  }
  return absl::InvalidArgumentError(absl::StrCat("trainer.backbone.name: unknown backbone \"",
                                                 name, "\" (allowed: ",
                                                 absl::StrJoin(TorchBackboneNames(), ", "), ")"));
}

}  // namespace tuner::worker::torchtrainer
