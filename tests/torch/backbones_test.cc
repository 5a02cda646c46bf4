// The small backbones' shapes, and which parameters train when the backbone is frozen or
// partly unfrozen.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "trial-worker/torch/backbone.h"
#include "trial-worker/torch/execution.h"

namespace tuner::worker::torchtrainer {
namespace {

TEST(Backbones, EveryBackboneMapsImagesToItsFeatureDim) {
  torch::NoGradGuard no_grad;
  for (const BackboneInfo& info : TorchBackbones()) {
    const std::string& name = info.name;
    // The smallest input each accepts (32 px for most), so every size check is exercised.
    const int64_t size = std::max<int64_t>(32, info.min_input_size);
    absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone = MakeBackbone(name, size);
    ASSERT_TRUE(backbone.ok()) << name << ": " << backbone.status();
    (*backbone)->eval();
    torch::Tensor features = (*backbone)->Features(torch::randn({2, 3, size, size}));
    EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, (*backbone)->feature_dim()})) << name;
    if (info.feature_dim > 0) EXPECT_EQ((*backbone)->feature_dim(), info.feature_dim) << name;
    EXPECT_FALSE((*backbone)->Stages().empty()) << name;
    EXPECT_EQ((*backbone)->StageNames().size(), (*backbone)->Stages().size()) << name;
    // The torch-free table unfreeze_from is checked against at CreateStudy.
    EXPECT_EQ((*backbone)->StageNames(), info.stages) << name;
  }
}

TEST(Backbones, TooSmallInputIsInvalidArgument) {
  absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone = MakeBackbone("vgg_bn", 28);
  EXPECT_EQ(backbone.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(backbone.status().message().find("trainer.input_size"), std::string::npos);
  backbone = MakeBackbone("inception_v3", 74);
  EXPECT_EQ(backbone.status().message(),
            "trainer.input_size: inception_v3 needs >= 75 pixels (got 74)");
}

// A snapshot of a module's parameters.
std::vector<torch::Tensor> Snapshot(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
  return out;
}

bool Changed(torch::nn::Module& m, const std::vector<torch::Tensor>& before) {
  const auto now = m.parameters();
  for (size_t i = 0; i < now.size(); ++i) {
    if (!now[i].equal(before[i])) return true;
  }
  return false;
}

TEST(Execution, UnfreezingTheLastStageTrainsOnlyItAndTheHead) {
  TorchTrainerConfig config;
  config.backbone.freeze = true;
  config.backbone.unfreeze_stages = 1;
  config.units = 16;
  config.learning_rate = 1e-2;
  absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone = MakeBackbone("resnet18_cifar", 16);
  ASSERT_TRUE(backbone.ok());
  ExecutionSetup setup;
  setup.config = &config;
  setup.feature_dim = (*backbone)->feature_dim();
  setup.num_classes = 10;
  setup.backbone = *backbone;
  Execution execution(setup, 1);
  std::vector<std::shared_ptr<torch::nn::Module>> stages = (*backbone)->Stages();
  const auto layer3 = Snapshot(*stages[2]);
  const auto layer4 = Snapshot(*stages[3]);
  const auto buffers_before = (*backbone)->named_buffers()["bn1.running_mean"].clone();
  execution.SetTraining(true);
  execution.BeginEpoch(1);
  std::mt19937_64 rng(1);
  const double loss = execution.TrainStep(torch::randn({4, 3, 16, 16}),
                                          torch::tensor({1, 2, 3, 4}, torch::kInt64), rng);
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_FALSE(Changed(*stages[2], layer3));
  EXPECT_TRUE(Changed(*stages[3], layer4));
  // The frozen stem's batch norm kept its statistics (eval mode while training).
  EXPECT_TRUE((*backbone)->named_buffers()["bn1.running_mean"].equal(buffers_before));
}

}  // namespace
}  // namespace tuner::worker::torchtrainer
