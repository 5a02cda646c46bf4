// Reading torch.save state dict files: errors name the file and the problem.
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/testing/temp_dir.h"
#include "trial-worker/torch/resnet.h"
#include "trial-worker/torch/state_dict_file.h"

namespace tuner::worker::torchtrainer {
namespace {

// A zip state dict file as torch.save writes it, made with torch::pickle_save.
void WriteDict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& items) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [k, v] : items) dict.insert(k, v);
  const std::vector<char> bytes = torch::pickle_save(dict);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(StateDictFile, ReadsNamesAndValuesOfAZipStateDict) {
  testing::TempDir dir;
  WriteDict(dir.File("w.pth"), {{"a.weight", torch::arange(6, torch::kFloat).reshape({2, 3})},
                                {"a.num_batches_tracked", torch::tensor(7, torch::kLong)}});
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("w.pth"));
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->size(), 2u);
  EXPECT_EQ((*state)[0].first, "a.weight");
  EXPECT_TRUE((*state)[0].second.equal(torch::arange(6, torch::kFloat).reshape({2, 3})));
  EXPECT_EQ((*state)[1].second.item<int64_t>(), 7);
}

TEST(StateDictFile, MissingFileIsNotFound) {
  absl::StatusOr<StateDict> state = ReadStateDictFile("/nonexistent/resnet50.pth");
  EXPECT_EQ(state.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(state.status().message().find("/nonexistent/resnet50.pth"), std::string::npos);
}

TEST(StateDictFile, ForeignFileIsInvalidArgument) {
  testing::TempDir dir;
  std::ofstream(dir.File("notes.pth")) << "these are not weights";
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("notes.pth"));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(state.status().message().find("not a torch.save zip archive"), std::string::npos)
      << state.status();
}

TEST(StateDictFile, TruncatedFileIsInvalidArgument) {
  testing::TempDir dir;
  WriteDict(dir.File("w.pth"), {{"a.weight", torch::ones({64, 64})}});
  std::ifstream in(dir.File("w.pth"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.File("cut.pth"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("cut.pth"));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(state.status().message().find(dir.File("cut.pth")), std::string::npos) << state.status();
}

TEST(StateDictFile, WholeTensorIsNotAStateDict) {
  testing::TempDir dir;
  const std::vector<char> bytes = torch::pickle_save(torch::ones({3}));
  std::ofstream(dir.File("t.pth"), std::ios::binary).write(bytes.data(), bytes.size());
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("t.pth"));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(state.status().message().find("dict of tensors"), std::string::npos) << state.status();
}

TEST(StateDictFile, WrongNamesAndShapesAreNamed) {
  testing::TempDir dir;
  ResNet model(ResNet18CifarOptions());
  StateDict state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : model->named_buffers()) state.emplace_back(b.key(), b.value().clone());
  ASSERT_TRUE(LoadStateDict(*model, state, "ok.pth").ok());

  StateDict bad = state;
  bad[0].second = torch::zeros({1, 2, 3});
  bad.emplace_back("classifier.weight", torch::zeros({2}));
  absl::Status s = LoadStateDict(*model, bad, "bad.pth");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad.pth"), std::string::npos) << s;
  EXPECT_NE(s.message().find("conv1.weight has shape [1, 2, 3]"), std::string::npos) << s;
  EXPECT_NE(s.message().find("unexpected classifier.weight"), std::string::npos) << s;

  StateDict missing(state.begin() + 1, state.end());
  s = LoadStateDict(*model, missing, "missing.pth");
  EXPECT_NE(s.message().find("missing conv1.weight"), std::string::npos) << s;
}

}  // namespace
}  // namespace tuner::worker::torchtrainer
