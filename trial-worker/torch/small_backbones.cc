#include "trial-worker/torch/small_backbones.h"

#include <string>

namespace tuner::worker::torchtrainer {

namespace nn = torch::nn;

LeNet5Impl::LeNet5Impl(int64_t input_size) {
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 6, 5).padding(2)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(6, 16, 5)));
  const int64_t side = (input_size / 2 - 4) / 2;
  feature_dim_ = 16 * side * side;
}

torch::Tensor LeNet5Impl::Features(const torch::Tensor& images) {
  torch::Tensor x = torch::max_pool2d(torch::relu(conv1(images)), 2);
  x = torch::max_pool2d(torch::relu(conv2(x)), 2);
  return x.flatten(1);
}

std::vector<std::shared_ptr<nn::Module>> LeNet5Impl::Stages() {
  return {conv1.ptr(), conv2.ptr()};
}

SmallCnnImpl::SmallCnnImpl(int64_t input_size) {
  const auto block = [](int64_t in, int64_t out) {
    return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)),
                          nn::BatchNorm2d(out), nn::ReLU(nn::ReLUOptions(true)),
                          nn::MaxPool2d(nn::MaxPool2dOptions(2)));
  };
  block1 = register_module("block1", block(3, 32));
  block2 = register_module("block2", block(32, 64));
  const int64_t side = input_size / 4;
  feature_dim_ = 64 * side * side;
}

torch::Tensor SmallCnnImpl::Features(const torch::Tensor& images) {
  return block2->forward(block1->forward(images)).flatten(1);
}

std::vector<std::shared_ptr<nn::Module>> SmallCnnImpl::Stages() {
  return {block1.ptr(), block2.ptr()};
}

VggBnImpl::VggBnImpl() {
  const std::vector<std::vector<int64_t>> widths = {
      {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  int64_t in = 3;
  for (size_t s = 0; s < widths.size(); ++s) {
    nn::Sequential stage;
    for (int64_t out : widths[s]) {
      stage->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
      stage->push_back(nn::BatchNorm2d(out));
      stage->push_back(nn::ReLU(nn::ReLUOptions(true)));
      in = out;
    }
    stage->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
    stages_.push_back(register_module("stage" + std::to_string(s + 1), stage));
  }
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    }
  }
}

torch::Tensor VggBnImpl::Features(const torch::Tensor& images) {
  torch::Tensor x = images;
  for (auto& stage : stages_) x = stage->forward(x);
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
}

std::vector<std::shared_ptr<nn::Module>> VggBnImpl::Stages() {
  std::vector<std::shared_ptr<nn::Module>> out;
  for (auto& stage : stages_) out.push_back(stage.ptr());
  return out;
}

}  // namespace tuner::worker::torchtrainer
