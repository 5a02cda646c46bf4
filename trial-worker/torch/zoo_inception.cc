// googlenet and inception_v3 with torchvision's names (zoo.h). Both are built without their
// auxiliary classifiers (aux1 / aux2, AuxLogits: used only in training mode, and skipped
// when a torchvision file is loaded) and without transform_input, which the backbone's
// preprocessing (mean = std = 0.5) stands for.
#include "absl/strings/str_cat.h"
#include "trial-worker/torch/zoo.h"
#include "trial-worker/torch/zoo_blocks.h"

namespace tuner::worker::torchtrainer {
namespace {

namespace nn = torch::nn;
using zoo::BasicConv2d;
using zoo::Chain;

BasicConv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                 int64_t padding = 0) {
  return BasicConv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

// A (1, 7) or (7, 1) style kernel with the padding that keeps the size.
BasicConv2d ConvHW(int64_t in, int64_t out, int64_t kh, int64_t kw) {
  return BasicConv2d(
      nn::Conv2dOptions(in, out, {kh, kw}).padding({(kh - 1) / 2, (kw - 1) / 2}));
}

torch::Tensor MaxPool(const torch::Tensor& x, int64_t kernel, int64_t stride, bool ceil) {
  return torch::max_pool2d(x, {kernel, kernel}, {stride, stride}, {0, 0}, {1, 1}, ceil);
}

// GoogLeNet's Inception block: branch1 (1x1), branch2 (1x1, 3x3), branch3 (1x1, 3x3: 3x3 in
// torchvision, not the paper's 5x5), branch4 (3x3 max pool, 1x1).
class InceptionImpl : public nn::Module {
 public:
  InceptionImpl(int64_t in, int64_t ch1, int64_t ch3red, int64_t ch3, int64_t ch5red,
                int64_t ch5, int64_t pool_proj) {
    branch1 = register_module("branch1", Conv(in, ch1, 1));
    Chain b2, b3, b4;
    b2->Add(Conv(in, ch3red, 1));
    b2->Add(Conv(ch3red, ch3, 3, 1, 1));
    b3->Add(Conv(in, ch5red, 1));
    b3->Add(Conv(ch5red, ch5, 3, 1, 1));
    b4->AddFunction([](torch::Tensor x) {
      return torch::max_pool2d(x, {3, 3}, {1, 1}, {1, 1}, {1, 1}, /*ceil_mode=*/true);
    });
    b4->Add(Conv(in, pool_proj, 1));
    branch2 = register_module("branch2", b2);
    branch3 = register_module("branch3", b3);
    branch4 = register_module("branch4", b4);
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::cat({branch1(x), branch2(x), branch3(x), branch4(x)}, 1);
  }

 private:
  BasicConv2d branch1{nullptr};
  Chain branch2{nullptr}, branch3{nullptr}, branch4{nullptr};
};
TORCH_MODULE(Inception);

class GoogLeNetImpl : public BackboneImpl {
 public:
  GoogLeNetImpl() {
    conv1 = register_module("conv1", Conv(3, 64, 7, 2, 3));
    conv2 = register_module("conv2", Conv(64, 64, 1));
    conv3 = register_module("conv3", Conv(64, 192, 3, 1, 1));
    const struct { const char* name; int64_t c[7]; } blocks[] = {
        {"inception3a", {192, 64, 96, 128, 16, 32, 32}},
        {"inception3b", {256, 128, 128, 192, 32, 96, 64}},
        {"inception4a", {480, 192, 96, 208, 16, 48, 64}},
        {"inception4b", {512, 160, 112, 224, 24, 64, 64}},
        {"inception4c", {512, 128, 128, 256, 24, 64, 64}},
        {"inception4d", {512, 112, 144, 288, 32, 64, 64}},
        {"inception4e", {528, 256, 160, 320, 32, 128, 128}},
        {"inception5a", {832, 256, 160, 320, 32, 128, 128}},
        {"inception5b", {832, 384, 192, 384, 48, 128, 128}}};
    for (const auto& b : blocks) {
      blocks_.push_back(register_module(
          b.name, Inception(b.c[0], b.c[1], b.c[2], b.c[3], b.c[4], b.c[5], b.c[6])));
    }
    InitConvBatchNorm(*this);
  }
  torch::Tensor Features(const torch::Tensor& images) override {
    torch::Tensor x = MaxPool(conv1(images), 3, 2, true);
    x = MaxPool(conv3(conv2(x)), 3, 2, true);
    x = blocks_[1](blocks_[0](x));
    x = MaxPool(x, 3, 2, true);
    for (size_t i = 2; i <= 6; ++i) x = blocks_[i](x);
    x = MaxPool(x, 2, 2, true);
    x = blocks_[8](blocks_[7](x));
    return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  }
  int64_t feature_dim() const override { return 1024; }
  std::vector<std::shared_ptr<nn::Module>> Stages() override {
    std::vector<std::shared_ptr<nn::Module>> out;
    for (auto& b : blocks_) out.push_back(b.ptr());
    return out;
  }

 private:
  BasicConv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  std::vector<Inception> blocks_;
};

torch::Tensor AvgPool3(const torch::Tensor& x) { return torch::avg_pool2d(x, 3, 1, 1); }

// Inception v3's blocks A..E: registered under torchvision's branch names, each forward the
// concatenation of its branches in torchvision's order.
class InceptionAImpl : public nn::Module {
 public:
  InceptionAImpl(int64_t in, int64_t pool_features) {
    b1 = register_module("branch1x1", Conv(in, 64, 1));
    b5_1 = register_module("branch5x5_1", Conv(in, 48, 1));
    b5_2 = register_module("branch5x5_2", Conv(48, 64, 5, 1, 2));
    b3_1 = register_module("branch3x3dbl_1", Conv(in, 64, 1));
    b3_2 = register_module("branch3x3dbl_2", Conv(64, 96, 3, 1, 1));
    b3_3 = register_module("branch3x3dbl_3", Conv(96, 96, 3, 1, 1));
    pool = register_module("branch_pool", Conv(in, pool_features, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::cat({b1(x), b5_2(b5_1(x)), b3_3(b3_2(b3_1(x))), pool(AvgPool3(x))}, 1);
  }

 private:
  BasicConv2d b1{nullptr}, b5_1{nullptr}, b5_2{nullptr}, b3_1{nullptr}, b3_2{nullptr},
      b3_3{nullptr}, pool{nullptr};
};
TORCH_MODULE(InceptionA);

class InceptionBImpl : public nn::Module {
 public:
  explicit InceptionBImpl(int64_t in) {
    b3 = register_module("branch3x3", Conv(in, 384, 3, 2));
    d1 = register_module("branch3x3dbl_1", Conv(in, 64, 1));
    d2 = register_module("branch3x3dbl_2", Conv(64, 96, 3, 1, 1));
    d3 = register_module("branch3x3dbl_3", Conv(96, 96, 3, 2));
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::cat({b3(x), d3(d2(d1(x))), MaxPool(x, 3, 2, false)}, 1);
  }

 private:
  BasicConv2d b3{nullptr}, d1{nullptr}, d2{nullptr}, d3{nullptr};
};
TORCH_MODULE(InceptionB);

class InceptionCImpl : public nn::Module {
 public:
  InceptionCImpl(int64_t in, int64_t c7) {
    b1 = register_module("branch1x1", Conv(in, 192, 1));
    s1 = register_module("branch7x7_1", Conv(in, c7, 1));
    s2 = register_module("branch7x7_2", ConvHW(c7, c7, 1, 7));
    s3 = register_module("branch7x7_3", ConvHW(c7, 192, 7, 1));
    d1 = register_module("branch7x7dbl_1", Conv(in, c7, 1));
    d2 = register_module("branch7x7dbl_2", ConvHW(c7, c7, 7, 1));
    d3 = register_module("branch7x7dbl_3", ConvHW(c7, c7, 1, 7));
    d4 = register_module("branch7x7dbl_4", ConvHW(c7, c7, 7, 1));
    d5 = register_module("branch7x7dbl_5", ConvHW(c7, 192, 1, 7));
    pool = register_module("branch_pool", Conv(in, 192, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::cat(
        {b1(x), s3(s2(s1(x))), d5(d4(d3(d2(d1(x))))), pool(AvgPool3(x))}, 1);
  }

 private:
  BasicConv2d b1{nullptr}, s1{nullptr}, s2{nullptr}, s3{nullptr}, d1{nullptr}, d2{nullptr},
      d3{nullptr}, d4{nullptr}, d5{nullptr}, pool{nullptr};
};
TORCH_MODULE(InceptionC);

class InceptionDImpl : public nn::Module {
 public:
  explicit InceptionDImpl(int64_t in) {
    a1 = register_module("branch3x3_1", Conv(in, 192, 1));
    a2 = register_module("branch3x3_2", Conv(192, 320, 3, 2));
    b1 = register_module("branch7x7x3_1", Conv(in, 192, 1));
    b2 = register_module("branch7x7x3_2", ConvHW(192, 192, 1, 7));
    b3 = register_module("branch7x7x3_3", ConvHW(192, 192, 7, 1));
    b4 = register_module("branch7x7x3_4", Conv(192, 192, 3, 2));
  }
  torch::Tensor forward(torch::Tensor x) {
    return torch::cat({a2(a1(x)), b4(b3(b2(b1(x)))), MaxPool(x, 3, 2, false)}, 1);
  }

 private:
  BasicConv2d a1{nullptr}, a2{nullptr}, b1{nullptr}, b2{nullptr}, b3{nullptr}, b4{nullptr};
};
TORCH_MODULE(InceptionD);

class InceptionEImpl : public nn::Module {
 public:
  explicit InceptionEImpl(int64_t in) {
    b1 = register_module("branch1x1", Conv(in, 320, 1));
    s1 = register_module("branch3x3_1", Conv(in, 384, 1));
    s2a = register_module("branch3x3_2a", ConvHW(384, 384, 1, 3));
    s2b = register_module("branch3x3_2b", ConvHW(384, 384, 3, 1));
    d1 = register_module("branch3x3dbl_1", Conv(in, 448, 1));
    d2 = register_module("branch3x3dbl_2", Conv(448, 384, 3, 1, 1));
    d3a = register_module("branch3x3dbl_3a", ConvHW(384, 384, 1, 3));
    d3b = register_module("branch3x3dbl_3b", ConvHW(384, 384, 3, 1));
    pool = register_module("branch_pool", Conv(in, 192, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor s = s1(x);
    torch::Tensor d = d2(d1(x));
    return torch::cat({b1(x), torch::cat({s2a(s), s2b(s)}, 1), torch::cat({d3a(d), d3b(d)}, 1),
                       pool(AvgPool3(x))},
                      1);
  }

 private:
  BasicConv2d b1{nullptr}, s1{nullptr}, s2a{nullptr}, s2b{nullptr}, d1{nullptr}, d2{nullptr},
      d3a{nullptr}, d3b{nullptr}, pool{nullptr};
};
TORCH_MODULE(InceptionE);

class InceptionV3Impl : public BackboneImpl {
 public:
  InceptionV3Impl() {
    c1a = register_module("Conv2d_1a_3x3", Conv(3, 32, 3, 2));
    c2a = register_module("Conv2d_2a_3x3", Conv(32, 32, 3));
    c2b = register_module("Conv2d_2b_3x3", Conv(32, 64, 3, 1, 1));
    c3b = register_module("Conv2d_3b_1x1", Conv(64, 80, 1));
    c4a = register_module("Conv2d_4a_3x3", Conv(80, 192, 3));
    Add("Mixed_5b", InceptionA(192, 32));
    Add("Mixed_5c", InceptionA(256, 64));
    Add("Mixed_5d", InceptionA(288, 64));
    Add("Mixed_6a", InceptionB(288));
    Add("Mixed_6b", InceptionC(768, 128));
    Add("Mixed_6c", InceptionC(768, 160));
    Add("Mixed_6d", InceptionC(768, 160));
    Add("Mixed_6e", InceptionC(768, 192));
    Add("Mixed_7a", InceptionD(768));
    Add("Mixed_7b", InceptionE(1280));
    Add("Mixed_7c", InceptionE(2048));
    InitConvBatchNorm(*this);
  }
  torch::Tensor Features(const torch::Tensor& images) override {
    torch::Tensor x = MaxPool(c2b(c2a(c1a(images))), 3, 2, false);
    x = MaxPool(c4a(c3b(x)), 3, 2, false);
    for (auto& m : mixed_) x = m.forward(x);
    return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  }
  int64_t feature_dim() const override { return 2048; }
  std::vector<std::shared_ptr<nn::Module>> Stages() override { return stages_; }

 private:
  template <typename M>
  void Add(const std::string& name, M module) {
    register_module(name, module);
    stages_.push_back(module.ptr());
    mixed_.emplace_back(std::move(module));
  }

  BasicConv2d c1a{nullptr}, c2a{nullptr}, c2b{nullptr}, c3b{nullptr}, c4a{nullptr};
  std::vector<nn::AnyModule> mixed_;
  std::vector<std::shared_ptr<nn::Module>> stages_;
};

}  // namespace

std::shared_ptr<BackboneImpl> MakeGoogLeNet() { return std::make_shared<GoogLeNetImpl>(); }
std::shared_ptr<BackboneImpl> MakeInceptionV3() { return std::make_shared<InceptionV3Impl>(); }

}  // namespace tuner::worker::torchtrainer
