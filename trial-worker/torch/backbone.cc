#include "trial-worker/torch/backbone.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "trial-worker/torch/resnet.h"
#include "trial-worker/torch/small_backbones.h"
#include "trial-worker/torch/zoo.h"

namespace tuner::worker::torchtrainer {
namespace {

namespace nn = torch::nn;

// The torchvision backbones other than the ResNets, by name.
std::shared_ptr<BackboneImpl> MakeZooBackbone(const std::string& name) {
  if (name == "vgg16_bn") return MakeVgg16Bn();
  if (name == "mobilenet_v2") return MakeMobileNetV2();
  if (name == "densenet121") return MakeDenseNet121();
  if (name == "efficientnet_b0") return MakeEfficientNet(1.0, 1.0);
  if (name == "efficientnet_b1") return MakeEfficientNet(1.0, 1.1);
  if (name == "efficientnet_b2") return MakeEfficientNet(1.1, 1.2);
  if (name == "googlenet") return MakeGoogLeNet();
  if (name == "inception_v3") return MakeInceptionV3();
  return nullptr;
}

}  // namespace

std::vector<std::string> BackboneImpl::StageNames() {
  std::vector<std::string> names;
  const auto modules = named_modules(/*name_prefix=*/"", /*include_self=*/false);
  for (const std::shared_ptr<nn::Module>& stage : Stages()) {
    std::string name = "?";
    for (const auto& item : modules) {
      if (item.value().get() == stage.get()) name = item.key();
    }
    names.push_back(name);
  }
  return names;
}

void InitConvBatchNorm(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

absl::Status LoadTorchvisionWeights(BackboneImpl& backbone, const std::string& name,
                                    const StateDict& state, const std::string& path) {
  const BackboneInfo* info = FindTorchBackbone(name);
  if (info == nullptr || !info->torchvision) {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.backbone.weights: ", name, " does not load torchvision weights"));
  }
  if (name != "densenet121") return LoadStateDict(backbone, state, path, info->head_prefixes);
  // torchvision's published DenseNet files predate module names without dots: their dense
  // layers' entries read "norm.1.weight" for "norm1.weight" (torchvision's _load_state_dict).
  static const std::regex kOldKey(
      R"(^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$)");
  StateDict renamed;
  renamed.reserve(state.size());
  for (const auto& [key, tensor] : state) {
    std::smatch m;
    if (std::regex_match(key, m, kOldKey)) {
      renamed.emplace_back(m[1].str() + m[2].str(), tensor);
    } else {
      renamed.emplace_back(key, tensor);
    }
  }
  return LoadStateDict(backbone, renamed, path, info->head_prefixes);
}

absl::StatusOr<std::shared_ptr<BackboneImpl>> MakeBackbone(const std::string& name,
                                                           int64_t input_size) {
  const BackboneInfo* info = FindTorchBackbone(name);
  if (info == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer.backbone.name: unknown backbone \"", name, "\" (allowed: ",
        absl::StrJoin(TorchBackboneNames(), ", "), ")"));
  }
  if (input_size < info->min_input_size) {
    return absl::InvalidArgumentError(absl::StrCat("trainer.input_size: ", name, " needs >= ",
                                                   info->min_input_size, " pixels (got ",
                                                   input_size, ")"));
  }
  if (std::optional<ResNetOptions> options = TorchvisionResNetOptions(name, /*num_classes=*/0)) {
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<ResNetImpl>(*options));
  }
  if (name == "resnet18_cifar") {
    return std::static_pointer_cast<BackboneImpl>(
        std::make_shared<ResNetImpl>(ResNet18CifarOptions()));
  }
  if (name == "lenet5") {
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<LeNet5Impl>(input_size));
  }
  if (name == "small_cnn") {
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<SmallCnnImpl>(input_size));
  }
  if (name == "vgg_bn") {
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<VggBnImpl>());
  }
  return MakeZooBackbone(name);
}

}  // namespace tuner::worker::torchtrainer
