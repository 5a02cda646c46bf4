// ResNet50 parity with python torchvision: the fixture script (run with /usr/bin/python3)
// saves a randomly initialised torchvision resnet50's state dict with torch.save and its
// eval-mode logits on a fixed batch; the C++ model loaded from that file must agree. Never
// skipped: without python3-torchvision the test fails and says so.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/testing/temp_dir.h"
#include "trial-worker/torch/resnet.h"
#include "trial-worker/torch/state_dict_file.h"

namespace tuner::worker::torchtrainer {
namespace {

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<float> out(static_cast<size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size() * 4));
  return out;
}

TEST(ResNet50, ParameterNamesMatchTorchvision) {
  ResNet model(ResNet50Options());
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names.size(), 161u);  // len(list(torchvision.models.resnet50().parameters()))
  EXPECT_EQ(names.front(), "conv1.weight");
  EXPECT_EQ(names.back(), "fc.bias");
  const auto params = model->named_parameters();
  EXPECT_NE(params.find("layer1.0.downsample.0.weight"), nullptr);
  EXPECT_NE(params.find("layer4.2.bn3.bias"), nullptr);
  EXPECT_NE(model->named_buffers().find("layer3.5.bn2.num_batches_tracked"), nullptr);
}

TEST(ResNet50, LogitsMatchPythonTorchvisionWithin1e4) {
  testing::TempDir dir;
  const std::string command = std::string("/usr/bin/python3 ") + TUNER_RESNET50_FIXTURE_SCRIPT +
                              " " + dir.path();
  const int rc = std::system(command.c_str());
  ASSERT_EQ(rc, 0) << "the parity fixture needs /usr/bin/python3 with torch and torchvision "
                      "(Debian: apt-get install python3-torchvision); `"
                   << command << "` exited with status " << rc;

  ResNet model(ResNet50Options());
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("resnet50.pth"));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->size(), 320u);  // 161 parameters + 159 BN buffers
  ASSERT_TRUE(LoadStateDict(*model, *state, dir.File("resnet50.pth")).ok());
  model->eval();

  std::vector<float> input = ReadFloats(dir.File("input.bin"));
  std::vector<float> expected = ReadFloats(dir.File("logits.bin"));
  ASSERT_EQ(input.size(), 2u * 3 * 64 * 64);
  ASSERT_EQ(expected.size(), 2u * 1000);
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::from_blob(input.data(), {2, 3, 64, 64}).clone();
  torch::Tensor logits = model->forward(x);
  torch::Tensor want = torch::from_blob(expected.data(), {2, 1000}).clone();
  const double max_diff = (logits - want).abs().max().item<double>();
  EXPECT_LT(max_diff, 1e-4) << "max |C++ - python| over the logits";
  EXPECT_GT(want.abs().max().item<double>(), 1e-2) << "fixture logits are degenerate";
}

}  // namespace
}  // namespace tuner::worker::torchtrainer
