// Building blocks shared by the torchvision zoo's translation units (zoo_mobile.cc,
// zoo_inception.cc): torchvision's Conv2dNormActivation and BasicConv2d, and Chain, an
// nn.Sequential whose children may themselves be chains. Internal to trial-worker/torch.
#ifndef TUNER_TRIAL_WORKER_TORCH_ZOO_BLOCKS_H_
#define TUNER_TRIAL_WORKER_TORCH_ZOO_BLOCKS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace tuner::worker::torchtrainer::zoo {

enum class Activation { kNone, kReLU, kReLU6, kSiLU };

// torchvision's Conv2dNormActivation: "0" conv (no bias, "same" padding for odd kernels),
// "1" batch norm, then the activation (a function: no parameters, so no name needed).
class ConvNormActImpl : public torch::nn::Module {
 public:
  ConvNormActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
                  Activation activation);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
  Activation activation_;
};
TORCH_MODULE(ConvNormAct);

// torchvision's BasicConv2d of GoogLeNet and Inception v3: "conv" (no bias), "bn"
// (eps 1e-3), ReLU.
class BasicConv2dImpl : public torch::nn::Module {
 public:
  explicit BasicConv2dImpl(torch::nn::Conv2dOptions options);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

// Children "0", "1", ... applied in order, like nn.Sequential; unlike torch::nn::Sequential
// its forward is not a template, so a chain nests in a chain.
class ChainImpl : public torch::nn::Module {
 public:
  template <typename M>
  void Add(M module) {
    register_module(std::to_string(modules_.size()), module.ptr());
    modules_.emplace_back(std::move(module));
  }
  // A function without parameters (a pool, an activation) at the next index.
  void AddFunction(std::function<torch::Tensor(torch::Tensor)> f) {
    Add(torch::nn::Functional(std::move(f)));
  }
  size_t size() const { return modules_.size(); }
  torch::Tensor forward(torch::Tensor x) {
    for (auto& m : modules_) x = m.forward(x);
    return x;
  }

 private:
  std::vector<torch::nn::AnyModule> modules_;
};
TORCH_MODULE(Chain);

// A handle on modules that live elsewhere in the tree, so several of them (vgg16_bn's convs
// between two pools) freeze and train as one stage. Not registered in the backbone itself.
class GroupImpl : public torch::nn::Module {
 public:
  void Add(const std::string& name, std::shared_ptr<torch::nn::Module> module) {
    register_module(name, std::move(module));
  }
};
TORCH_MODULE(Group);

// torchvision's _make_divisible: v rounded to a multiple of `divisor`, never below 90% of v.
int64_t MakeDivisible(double v, int64_t divisor = 8);

}  // namespace tuner::worker::torchtrainer::zoo

#endif  // TUNER_TRIAL_WORKER_TORCH_ZOO_BLOCKS_H_
