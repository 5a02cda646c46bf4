// vgg16_bn, mobilenet_v2, densenet121 and efficientnet_b0/b1/b2 with torchvision's names
// (zoo.h), and the blocks zoo_blocks.h declares.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "trial-worker/torch/zoo.h"
#include "trial-worker/torch/zoo_blocks.h"

namespace tuner::worker::torchtrainer {
namespace zoo {

namespace nn = torch::nn;

ConvNormActImpl::ConvNormActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                 int64_t groups, Activation activation)
    : activation_(activation) {
  conv_ = register_module("0", nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                              .stride(stride)
                                              .padding((kernel - 1) / 2)
                                              .groups(groups)
                                              .bias(false)));
  bn_ = register_module("1", nn::BatchNorm2d(out));
}

torch::Tensor ConvNormActImpl::forward(torch::Tensor x) {
  x = bn_(conv_(x));
  switch (activation_) {
    case Activation::kNone: return x;
    case Activation::kReLU: return torch::relu(x);
    case Activation::kReLU6: return torch::hardtanh(x, 0.0, 6.0);
    case Activation::kSiLU: return torch::silu(x);
  }
  return x;
}

BasicConv2dImpl::BasicConv2dImpl(nn::Conv2dOptions options) {
  const int64_t out = options.out_channels();
  conv = register_module("conv", nn::Conv2d(options.bias(false)));
  bn = register_module("bn", nn::BatchNorm2d(nn::BatchNorm2dOptions(out).eps(1e-3)));
}

torch::Tensor BasicConv2dImpl::forward(torch::Tensor x) { return torch::relu(bn(conv(x))); }

int64_t MakeDivisible(double v, int64_t divisor) {
  int64_t out = std::max(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

}  // namespace zoo

namespace {

namespace nn = torch::nn;
using zoo::Activation;
using zoo::Chain;
using zoo::ConvNormAct;
using zoo::Group;

torch::Tensor GlobalPool(const torch::Tensor& x) {
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
}

// features.0 .. features.43 (13 conv / bn / relu triples and 5 max pools); its stages are
// the runs of convs between pools, named by their first and last index ("features.34-43").
class Vgg16BnImpl : public BackboneImpl {
 public:
  Vgg16BnImpl() {
    constexpr int64_t kPool = 0;
    const int64_t config[] = {64,  64,  kPool, 128, 128, kPool, 256, 256, 256, kPool,
                              512, 512, 512,   kPool, 512, 512, 512, kPool};
    Chain features;
    Group stage;
    size_t first = 0;
    int64_t in = 3;
    for (int64_t channels : config) {
      if (channels == kPool) {
        features->AddFunction([](torch::Tensor x) { return torch::max_pool2d(x, 2, 2); });
        stages_.push_back(stage.ptr());
        stage_names_.push_back(absl::StrCat("features.", first, "-", features->size() - 1));
        stage = Group();
        first = features->size();
        continue;
      }
      nn::Conv2d conv(nn::Conv2dOptions(in, channels, 3).padding(1));
      nn::BatchNorm2d bn(channels);
      stage->Add(std::to_string(features->size()), conv.ptr());
      features->Add(conv);
      stage->Add(std::to_string(features->size()), bn.ptr());
      features->Add(bn);
      features->AddFunction([](torch::Tensor x) { return torch::relu(x); });
      in = channels;
    }
    features_ = register_module("features", features);
    InitConvBatchNorm(*this);
  }
  torch::Tensor Features(const torch::Tensor& images) override {
    return GlobalPool(features_(images));
  }
  int64_t feature_dim() const override { return 512; }
  std::vector<std::shared_ptr<nn::Module>> Stages() override { return stages_; }
  std::vector<std::string> StageNames() override { return stage_names_; }

 private:
  Chain features_{nullptr};
  std::vector<std::shared_ptr<nn::Module>> stages_;
  std::vector<std::string> stage_names_;
};

// torchvision's InvertedResidual: "conv" = [expand ConvNormAct], depthwise ConvNormAct,
// projection conv, its batch norm.
class InvertedResidualImpl : public nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand)
      : residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expand;
    Chain conv;
    if (expand != 1) conv->Add(ConvNormAct(in, hidden, 1, 1, 1, Activation::kReLU6));
    conv->Add(ConvNormAct(hidden, hidden, 3, stride, hidden, Activation::kReLU6));
    conv->Add(nn::Conv2d(nn::Conv2dOptions(hidden, out, 1).bias(false)));
    conv->Add(nn::BatchNorm2d(out));
    conv_ = register_module("conv", conv);
  }
  torch::Tensor forward(torch::Tensor x) { return residual_ ? x + conv_(x) : conv_(x); }

 private:
  const bool residual_;
  Chain conv_{nullptr};
};
TORCH_MODULE(InvertedResidual);

// features.0 (stem), features.1 .. features.17 (inverted residuals), features.18 (1x1 to
// 1280); stages features.1 .. features.18.
class MobileNetV2Impl : public BackboneImpl {
 public:
  MobileNetV2Impl() {
    struct Setting { int64_t expand, channels, blocks, stride; };
    const Setting settings[] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
    Chain features;
    features->Add(ConvNormAct(3, 32, 3, 2, 1, Activation::kReLU6));
    int64_t in = 32;
    for (const Setting& s : settings) {
      for (int64_t i = 0; i < s.blocks; ++i) {
        InvertedResidual block(in, s.channels, i == 0 ? s.stride : 1, s.expand);
        stages_.push_back(block.ptr());
        features->Add(block);
        in = s.channels;
      }
    }
    ConvNormAct last(in, 1280, 1, 1, 1, Activation::kReLU6);
    stages_.push_back(last.ptr());
    features->Add(last);
    features_ = register_module("features", features);
    InitConvBatchNorm(*this);
  }
  torch::Tensor Features(const torch::Tensor& images) override {
    return GlobalPool(features_(images));
  }
  int64_t feature_dim() const override { return 1280; }
  std::vector<std::shared_ptr<nn::Module>> Stages() override { return stages_; }

 private:
  Chain features_{nullptr};
  std::vector<std::shared_ptr<nn::Module>> stages_;
};

// torchvision's _DenseLayer: norm1, relu1, conv1 (1x1 to 128), norm2, relu2, conv2 (3x3 to
// the growth rate 32) over the concatenation of every earlier output of its block.
class DenseLayerImpl : public nn::Module {
 public:
  explicit DenseLayerImpl(int64_t in) {
    norm1 = register_module("norm1", nn::BatchNorm2d(in));
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, 128, 1).bias(false)));
    norm2 = register_module("norm2", nn::BatchNorm2d(128));
    conv2 = register_module("conv2",
                            nn::Conv2d(nn::Conv2dOptions(128, 32, 3).padding(1).bias(false)));
  }
  torch::Tensor forward(torch::Tensor x) {
    return conv2(torch::relu(norm2(conv1(torch::relu(norm1(x))))));
  }

 private:
  nn::BatchNorm2d norm1{nullptr}, norm2{nullptr};
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(DenseLayer);

class DenseBlockImpl : public nn::Module {
 public:
  DenseBlockImpl(int64_t layers, int64_t in) {
    for (int64_t i = 0; i < layers; ++i) {
      layers_.push_back(register_module(absl::StrCat("denselayer", i + 1), DenseLayer(in + i * 32)));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    for (auto& layer : layers_) x = torch::cat({x, layer(x)}, 1);
    return x;
  }

 private:
  std::vector<DenseLayer> layers_;
};
TORCH_MODULE(DenseBlock);

// torchvision's _Transition: norm, relu, conv (1x1, halving the channels), 2x2 average pool.
class TransitionImpl : public nn::Module {
 public:
  explicit TransitionImpl(int64_t in) {
    norm = register_module("norm", nn::BatchNorm2d(in));
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, in / 2, 1).bias(false)));
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::avg_pool2d(conv(torch::relu(norm(x))), 2, 2);
  }

 private:
  nn::BatchNorm2d norm{nullptr};
  nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Transition);

// torchvision's DenseNet's `features`: conv0, norm0, relu0, pool0, denseblock1, transition1,
// ..., denseblock4, norm5 (growth 32, blocks 6 / 12 / 24 / 16: densenet121).
class DenseNetFeaturesImpl : public nn::Module {
 public:
  DenseNetFeaturesImpl() {
    conv0 = register_module(
        "conv0", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
    norm0 = register_module("norm0", nn::BatchNorm2d(64));
    int64_t channels = 64;
    const int64_t blocks[] = {6, 12, 24, 16};
    for (int i = 0; i < 4; ++i) {
      DenseBlock block = register_module(absl::StrCat("denseblock", i + 1),
                                         DenseBlock(blocks[i], channels));
      chain_.push_back(nn::AnyModule(block));
      stages.push_back(block.ptr());
      channels += blocks[i] * 32;
      if (i == 3) break;
      Transition transition = register_module(absl::StrCat("transition", i + 1),
                                              Transition(channels));
      chain_.push_back(nn::AnyModule(transition));
      stages.push_back(transition.ptr());
      channels /= 2;
    }
    norm5 = register_module("norm5", nn::BatchNorm2d(channels));
    stages.push_back(norm5.ptr());
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(norm0(conv0(x))), 3, 2, 1);
    for (auto& m : chain_) x = m.forward(x);
    return norm5(x);
  }
  std::vector<std::shared_ptr<nn::Module>> stages;

 private:
  nn::Conv2d conv0{nullptr};
  nn::BatchNorm2d norm0{nullptr}, norm5{nullptr};
  std::vector<nn::AnyModule> chain_;
};
TORCH_MODULE(DenseNetFeatures);

class DenseNet121Impl : public BackboneImpl {
 public:
  DenseNet121Impl() {
    features_ = register_module("features", DenseNetFeatures());
    InitConvBatchNorm(*this);
  }
  torch::Tensor Features(const torch::Tensor& images) override {
    return GlobalPool(torch::relu(features_(images)));
  }
  int64_t feature_dim() const override { return 1024; }
  std::vector<std::shared_ptr<nn::Module>> Stages() override { return features_->stages; }

 private:
  DenseNetFeatures features_{nullptr};
};

// torchvision's SqueezeExcitation with SiLU: fc1, fc2 (1x1 convs with bias).
class SqueezeExcitationImpl : public nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze) {
    fc1 = register_module("fc1", nn::Conv2d(nn::Conv2dOptions(channels, squeeze, 1)));
    fc2 = register_module("fc2", nn::Conv2d(nn::Conv2dOptions(squeeze, channels, 1)));
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor scale = torch::adaptive_avg_pool2d(x, {1, 1});
    scale = torch::sigmoid(fc2(torch::silu(fc1(scale))));
    return x * scale;
  }

 private:
  nn::Conv2d fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

// torchvision's MBConv: "block" = [expand ConvNormAct], depthwise ConvNormAct,
// SqueezeExcitation, projection ConvNormAct; the residual when shapes allow. torchvision's
// stochastic depth (in training mode only; the identity in eval mode, where parity is
// pinned) is not applied: a fine-tuned efficientnet here trains without it.
class MBConvImpl : public nn::Module {
 public:
  MBConvImpl(int64_t in, int64_t out, double expand, int64_t kernel, int64_t stride)
      : residual_(stride == 1 && in == out) {
    const int64_t expanded = zoo::MakeDivisible(in * expand);
    Chain block;
    if (expanded != in) block->Add(ConvNormAct(in, expanded, 1, 1, 1, Activation::kSiLU));
    block->Add(ConvNormAct(expanded, expanded, kernel, stride, expanded, Activation::kSiLU));
    block->Add(SqueezeExcitation(expanded, std::max<int64_t>(1, in / 4)));
    block->Add(ConvNormAct(expanded, out, 1, 1, 1, Activation::kNone));
    block_ = register_module("block", block);
  }
  torch::Tensor forward(torch::Tensor x) { return residual_ ? block_(x) + x : block_(x); }

 private:
  const bool residual_;
  Chain block_{nullptr};
};
TORCH_MODULE(MBConv);

// features.0 (stem), features.1 .. features.7 (MBConv stages), features.8 (1x1 to 4x the
// last stage's width); stages features.1 .. features.8.
class EfficientNetImpl : public BackboneImpl {
 public:
  EfficientNetImpl(double width_mult, double depth_mult) {
    struct Setting { double expand; int64_t kernel, stride, in, out, blocks; };
    const Setting settings[] = {{1, 3, 1, 32, 16, 1},   {6, 3, 2, 16, 24, 2},
                                {6, 5, 2, 24, 40, 2},   {6, 3, 2, 40, 80, 3},
                                {6, 5, 1, 80, 112, 3},  {6, 5, 2, 112, 192, 4},
                                {6, 3, 1, 192, 320, 1}};
    const auto width = [&](int64_t c) { return zoo::MakeDivisible(c * width_mult); };
    Chain features;
    features->Add(ConvNormAct(3, width(32), 3, 2, 1, Activation::kSiLU));
    for (const Setting& s : settings) {
      Chain stage;
      const auto blocks = static_cast<int64_t>(std::ceil(s.blocks * depth_mult));
      for (int64_t i = 0; i < blocks; ++i) {
        stage->Add(MBConv(i == 0 ? width(s.in) : width(s.out), width(s.out), s.expand, s.kernel,
                          i == 0 ? s.stride : 1));
      }
      stages_.push_back(stage.ptr());
      features->Add(stage);
    }
    feature_dim_ = 4 * width(320);
    ConvNormAct last(width(320), feature_dim_, 1, 1, 1, Activation::kSiLU);
    stages_.push_back(last.ptr());
    features->Add(last);
    features_ = register_module("features", features);
    InitConvBatchNorm(*this);
  }
  torch::Tensor Features(const torch::Tensor& images) override {
    return GlobalPool(features_(images));
  }
  int64_t feature_dim() const override { return feature_dim_; }
  std::vector<std::shared_ptr<nn::Module>> Stages() override { return stages_; }

 private:
  Chain features_{nullptr};
  int64_t feature_dim_ = 0;
  std::vector<std::shared_ptr<nn::Module>> stages_;
};

}  // namespace

std::shared_ptr<BackboneImpl> MakeVgg16Bn() { return std::make_shared<Vgg16BnImpl>(); }
std::shared_ptr<BackboneImpl> MakeMobileNetV2() { return std::make_shared<MobileNetV2Impl>(); }
std::shared_ptr<BackboneImpl> MakeDenseNet121() { return std::make_shared<DenseNet121Impl>(); }
std::shared_ptr<BackboneImpl> MakeEfficientNet(double width_mult, double depth_mult) {
  return std::make_shared<EfficientNetImpl>(width_mult, depth_mult);
}

}  // namespace tuner::worker::torchtrainer
