// Parity of every torchvision backbone with python torchvision: the fixture script (run with
// /usr/bin/python3) saves a randomly initialised torchvision model's state dict with
// torch.save and the eval-mode input of its classifier on a fixed batch; the C++ backbone
// built by MakeBackbone and loaded from that file by LoadTorchvisionWeights (every entry by
// name, the classifier and auxiliary heads skipped) must agree within 1e-4. Both sides
// compute in float64 from the float32 file: random-init deep networks amplify float32
// rounding to ~1e-3 (resnet152, inception_v3; python against itself), which would hide a
// small implementation difference or fail a correct one. Never skipped: without
// python3-torchvision the tests fail and say so.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/testing/temp_dir.h"
#include "trial-worker/torch/backbone.h"
#include "trial-worker/torch/state_dict_file.h"

namespace tuner::worker::torchtrainer {
namespace {

template <typename T>
std::vector<T> ReadValues(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  std::vector<T> out(static_cast<size_t>(in.tellg()) / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(out.data()),
          static_cast<std::streamsize>(out.size() * sizeof(T)));
  return out;
}

// Runs the fixture script for `name` into `dir`.
void MakeFixture(const std::string& name, const testing::TempDir& dir) {
  const std::string command =
      std::string("/usr/bin/python3 ") + TUNER_ZOO_FIXTURE_SCRIPT + " " + name + " " + dir.path();
  const int rc = std::system(command.c_str());
  ASSERT_EQ(rc, 0) << "the parity fixture needs /usr/bin/python3 with torch and torchvision "
                      "(Debian: apt-get install python3-torchvision); `"
                   << command << "` exited with status " << rc;
}

// max |C++ - python| over the features of the fixture's batch; -1 when they cannot be
// compared (the failure is recorded).
double MaxFeatureDiff(const std::string& name, const std::string& file,
                      const testing::TempDir& dir) {
  absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone = MakeBackbone(name, 75);
  EXPECT_TRUE(backbone.ok()) << backbone.status();
  if (!backbone.ok()) return -1;
  absl::StatusOr<StateDict> state = ReadStateDictFile(file);
  EXPECT_TRUE(state.ok()) << state.status();
  if (!state.ok()) return -1;
  const absl::Status loaded = LoadTorchvisionWeights(**backbone, name, *state, file);
  EXPECT_TRUE(loaded.ok()) << loaded;
  if (!loaded.ok()) return -1;
  (*backbone)->eval();

  const int64_t size = name == "inception_v3" ? 75 : 64;
  std::vector<float> input = ReadValues<float>(dir.File("input.bin"));
  std::vector<double> expected = ReadValues<double>(dir.File("features.bin"));
  const int64_t dim = (*backbone)->feature_dim();
  EXPECT_EQ(input.size(), static_cast<size_t>(2 * 3 * size * size));
  EXPECT_EQ(expected.size(), static_cast<size_t>(2 * dim)) << "feature width of " << name;
  if (input.size() != static_cast<size_t>(2 * 3 * size * size) ||
      expected.size() != static_cast<size_t>(2 * dim)) {
    return -1;
  }
  torch::NoGradGuard no_grad;
  (*backbone)->to(torch::kDouble);
  torch::Tensor x = torch::from_blob(input.data(), {2, 3, size, size}).to(torch::kDouble);
  torch::Tensor features = (*backbone)->Features(x);
  torch::Tensor want = torch::from_blob(expected.data(), {2, dim}, torch::kDouble).clone();
  EXPECT_GT(want.abs().max().item<double>(), 1e-2) << "fixture features are degenerate";
  return (features - want).abs().max().item<double>();
}

class ZooParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooParity, FeaturesMatchPythonTorchvisionWithin1e4) {
  const std::string name = GetParam();
  testing::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(MakeFixture(name, dir));
  const double diff = MaxFeatureDiff(name, dir.File(name + ".pth"), dir);
  EXPECT_GE(diff, 0);
  EXPECT_LT(diff, 1e-4) << name << ": max |C++ - python| over the features";
  std::printf("%s: max |C++ - python torchvision| = %.3g\n", name.c_str(), diff);
  if (name == "densenet121") {
    // torchvision's published DenseNet files name the dense layers' entries "norm.1.weight".
    const double legacy = MaxFeatureDiff(name, dir.File(name + "-legacy.pth"), dir);
    EXPECT_GE(legacy, 0);
    EXPECT_LT(legacy, 1e-4) << "densenet121 from a file with the old key names";
  }
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ZooParity,
                         ::testing::Values("resnet18", "resnet34", "resnet101", "resnet152",
                                           "vgg16_bn", "mobilenet_v2", "densenet121",
                                           "efficientnet_b0", "efficientnet_b1",
                                           "efficientnet_b2", "googlenet", "inception_v3"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(ZooParity, EveryTorchvisionBackboneHasAParityTest) {
  std::vector<std::string> tested = {"resnet50"};  // resnet_parity_test.cc
  for (const char* name : {"resnet18", "resnet34", "resnet101", "resnet152", "vgg16_bn",
                           "mobilenet_v2", "densenet121", "efficientnet_b0", "efficientnet_b1",
                           "efficientnet_b2", "googlenet", "inception_v3"}) {
    tested.push_back(name);
  }
  for (const BackboneInfo& info : TorchBackbones()) {
    if (!info.torchvision) continue;
    EXPECT_NE(std::find(tested.begin(), tested.end(), info.name), tested.end()) << info.name;
  }
}

TEST(ZooParity, AFileOfAnotherArchitectureNamesTheFirstMismatch) {
  testing::TempDir dir;
  ASSERT_NO_FATAL_FAILURE(MakeFixture("resnet18", dir));
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("resnet18.pth"));
  ASSERT_TRUE(state.ok()) << state.status();
  // Deeper: resnet34's first block resnet18 lacks.
  absl::StatusOr<std::shared_ptr<BackboneImpl>> resnet34 = MakeBackbone("resnet34", 32);
  ASSERT_TRUE(resnet34.ok());
  absl::Status s = LoadTorchvisionWeights(**resnet34, "resnet34", *state, "r18.pth");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("r18.pth"), std::string::npos) << s;
  EXPECT_NE(s.message().find("problems: missing layer1.2.conv1.weight;"), std::string::npos) << s;
  // Other blocks: resnet50's Bottleneck has a 1x1 conv1 where BasicBlock has a 3x3.
  absl::StatusOr<std::shared_ptr<BackboneImpl>> resnet50 = MakeBackbone("resnet50", 32);
  ASSERT_TRUE(resnet50.ok());
  s = LoadTorchvisionWeights(**resnet50, "resnet50", *state, "r18.pth");
  EXPECT_NE(s.message().find("problems: layer1.0.conv1.weight has shape [64, 64, 3, 3], the "
                             "model expects [64, 64, 1, 1]"),
            std::string::npos)
      << s;
  // Another family: every entry of the file is unexpected, the first named first.
  absl::StatusOr<std::shared_ptr<BackboneImpl>> mobilenet = MakeBackbone("mobilenet_v2", 32);
  ASSERT_TRUE(mobilenet.ok());
  s = LoadTorchvisionWeights(**mobilenet, "mobilenet_v2", *state, "r18.pth");
  EXPECT_NE(s.message().find("problems: unexpected conv1.weight;"), std::string::npos) << s;
}

TEST(Zoo, StagesAreTorchvisionBlocks) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> want = {
      {"resnet152", {"layer1", "layer2", "layer3", "layer4"}},
      {"vgg16_bn", {"features.0-6", "features.7-13", "features.14-23", "features.24-33",
                    "features.34-43"}},
      {"densenet121", {"features.denseblock1", "features.transition1", "features.denseblock2",
                       "features.transition2", "features.denseblock3", "features.transition3",
                       "features.denseblock4", "features.norm5"}},
      {"efficientnet_b1", {"features.1", "features.2", "features.3", "features.4", "features.5",
                           "features.6", "features.7", "features.8"}},
      {"googlenet", {"inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                     "inception4d", "inception4e", "inception5a", "inception5b"}},
  };
  for (const auto& [name, stages] : want) {
    absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone = MakeBackbone(name, 32);
    ASSERT_TRUE(backbone.ok()) << name;
    EXPECT_EQ((*backbone)->StageNames(), stages) << name;
  }
  absl::StatusOr<std::shared_ptr<BackboneImpl>> mobilenet = MakeBackbone("mobilenet_v2", 32);
  ASSERT_TRUE(mobilenet.ok());
  const std::vector<std::string> names = (*mobilenet)->StageNames();
  ASSERT_EQ(names.size(), 18u);
  EXPECT_EQ(names.front(), "features.1");
  EXPECT_EQ(names.back(), "features.18");
}

}  // namespace
}  // namespace tuner::worker::torchtrainer
