#include "trial-worker/torch/resnet.h"

namespace tuner::worker::torchtrainer {
namespace {

namespace nn = torch::nn;

nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

nn::Sequential Downsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return nn::Sequential(Conv(in, out, 1, stride, 0), nn::BatchNorm2d(out));
}

}  // namespace

BottleneckImpl::BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", Conv(in_planes, planes, 1, 1, 0));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", Conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", Conv(planes, planes * kExpansion, 1, 1, 0));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * kExpansion));
  nn::Sequential down = Downsample(in_planes, planes * kExpansion, stride);
  if (down) downsample = register_module("downsample", down);
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  torch::Tensor identity = downsample ? downsample->forward(x) : x;
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  return torch::relu(out + identity);
}

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", Conv(in_planes, planes, 3, stride, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", Conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  nn::Sequential down = Downsample(in_planes, planes, stride);
  if (down) downsample = register_module("downsample", down);
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  torch::Tensor identity = downsample ? downsample->forward(x) : x;
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  return torch::relu(out + identity);
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  conv1 = register_module("conv1", options.imagenet_stem ? Conv(3, 64, 7, 2, 3) : Conv(3, 64, 3, 1, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  layer1 = register_module("layer1", MakeLayer(64, options.layers.at(0), 1));
  layer2 = register_module("layer2", MakeLayer(128, options.layers.at(1), 2));
  layer3 = register_module("layer3", MakeLayer(256, options.layers.at(2), 2));
  layer4 = register_module("layer4", MakeLayer(512, options.layers.at(3), 2));
  feature_dim_ = in_planes_;
  if (options.num_classes > 0) fc = register_module("fc", nn::Linear(feature_dim_, options.num_classes));
  InitConvBatchNorm(*this);
}

nn::Sequential ResNetImpl::MakeLayer(int64_t planes, int64_t blocks, int64_t stride) {
  nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    if (options_.bottleneck) {
      layer->push_back(Bottleneck(in_planes_, planes, i == 0 ? stride : 1));
      in_planes_ = planes * BottleneckImpl::kExpansion;
    } else {
      layer->push_back(BasicBlock(in_planes_, planes, i == 0 ? stride : 1));
      in_planes_ = planes * BasicBlockImpl::kExpansion;
    }
  }
  return layer;
}

torch::Tensor ResNetImpl::Trunk(torch::Tensor x) {
  x = torch::relu(bn1(conv1(x)));
  if (options_.imagenet_stem) x = torch::max_pool2d(x, 3, 2, 1);
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  return x;
}

torch::Tensor ResNetImpl::Features(const torch::Tensor& images) {
  return torch::adaptive_avg_pool2d(Trunk(images), {1, 1}).flatten(1);
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  TORCH_CHECK(fc, "ResNet built without fc (num_classes 0): use Features()");
  return fc(Features(x));
}

std::vector<std::shared_ptr<torch::nn::Module>> ResNetImpl::Stages() {
  return {layer1.ptr(), layer2.ptr(), layer3.ptr(), layer4.ptr()};
}

ResNetOptions ResNet50Options(int64_t num_classes) {
  ResNetOptions options;
  options.num_classes = num_classes;
  return options;
}

std::optional<ResNetOptions> TorchvisionResNetOptions(const std::string& name,
                                                      int64_t num_classes) {
  ResNetOptions options;
  options.num_classes = num_classes;
  if (name == "resnet18") {
    options.bottleneck = false;
    options.layers = {2, 2, 2, 2};
  } else if (name == "resnet34") {
    options.bottleneck = false;
  } else if (name == "resnet101") {
    options.layers = {3, 4, 23, 3};
  } else if (name == "resnet152") {
    options.layers = {3, 8, 36, 3};
  } else if (name != "resnet50") {
    return std::nullopt;
  }
  return options;
}

ResNetOptions ResNet18CifarOptions() {
  ResNetOptions options;
  options.bottleneck = false;
  options.layers = {2, 2, 2, 2};
  options.imagenet_stem = false;
  options.num_classes = 0;
  return options;
}

}  // namespace tuner::worker::torchtrainer
