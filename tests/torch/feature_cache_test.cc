// The frozen-backbone feature cache: same results as computing features every epoch, entries
// reused across trials, bounded size, one computation when workers race for a key.
#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "tests/torch/trainer_test_util.h"
#include "tests/worker/recording_context.h"
#include "trial-worker/torch/feature_cache.h"
#include "trial-worker/torch/torch_trainer.h"

namespace tuner::worker {
namespace {

int CountEntries(const std::string& cache_dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache_dir + "/torch-features")) {
    n += e.path().extension() == ".feat";
  }
  return n;
}

TEST(TorchFeatureCache, CachedHeadTrainingMatchesUncachedAndIsReused) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 20, 4);  // 80 train, 20 validation images
  TrialAssignment a = testing::TinyAssignment(dir.path(), 3);
  a.trainer_config["backbone"] = {{"name", "resnet50"}};  // frozen, random init
  a.cache_dir = dir.File("cache");

  a.trainer_config["feature_cache"] = false;
  testing::RecordingContext uncached;
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, uncached).ok());

  a.trainer_config["feature_cache"] = true;
  testing::RecordingContext cached, again;
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, cached).ok());
  EXPECT_EQ(CountEntries(a.cache_dir), 2);  // train and val
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, again).ok());
  EXPECT_EQ(CountEntries(a.cache_dir), 2);

  ASSERT_EQ(cached.reports.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    // Same features up to float summation order (batch sizes differ), same head training.
    EXPECT_NEAR(cached.reports[i].value, uncached.reports[i].value, 0.05) << "epoch " << i + 1;
    EXPECT_EQ(again.reports[i].value, cached.reports[i].value);
  }
}

TEST(TorchFeatureCache, EachBackboneOfAChoiceParamHasItsOwnEntries) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 20, 4);
  TrialAssignment a = testing::TinyAssignment(dir.path(), 1);
  a.trainer_config["backbone"] = {{"name", {{"param", "backbone"}}}};  // frozen, random init
  a.cache_dir = dir.File("cache");
  testing::RecordingContext r18, mobilenet, again;
  a.params["backbone"] = std::string("resnet18");
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, r18).ok());
  EXPECT_EQ(CountEntries(a.cache_dir), 2);  // train and val
  a.params["backbone"] = std::string("mobilenet_v2");
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, mobilenet).ok());
  EXPECT_EQ(CountEntries(a.cache_dir), 4);
  a.params["backbone"] = std::string("resnet18");
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, again).ok());
  EXPECT_EQ(CountEntries(a.cache_dir), 4);  // resnet18's entries reused
  ASSERT_EQ(again.reports.size(), 1u);
  EXPECT_EQ(again.reports[0].value, r18.reports[0].value);
}

TEST(TorchFeatureCache, AugmentedViewsAreCachedSeparately) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 8, 2);
  TrialAssignment a = testing::TinyAssignment(dir.path(), 3);
  a.trainer_config["backbone"] = {{"name", "resnet50"}};
  a.trainer_config["augmentation"] = {{"rotation", 15}, {"shift", 0.1}, {"hflip", true}, {"views", 2}};
  a.cache_dir = dir.File("cache");
  testing::RecordingContext context;
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, context).ok());
  EXPECT_EQ(CountEntries(a.cache_dir), 3);  // two train views and val
}

TEST(FeatureCache, ComputesOnceWhenWorkersRace) {
  testing::TempDir dir;
  std::atomic<int> computed{0};
  auto compute = [&]() -> absl::StatusOr<torchtrainer::FeatureSet> {
    ++computed;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return torchtrainer::FeatureSet{torch::ones({4, 3}), torch::arange(4, torch::kInt64)};
  };
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      torchtrainer::FeatureCache cache(dir.path(), 1 << 20);  // one per "worker"
      auto set = cache.GetOrCompute("key", compute);
      if (set.ok() && set->features.equal(torch::ones({4, 3}))) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(computed.load(), 1);
  EXPECT_EQ(ok.load(), 4);
}

TEST(FeatureCache, EvictsLeastRecentlyUsedBeyondItsBound) {
  testing::TempDir dir;
  // Each entry: 8 magic + 16 header + 1000*4 floats + 1000*8 labels ~ 12 KB; bound 30 KB.
  torchtrainer::FeatureCache cache(dir.path(), 30000);
  auto make = [] {
    return absl::StatusOr<torchtrainer::FeatureSet>(
        torchtrainer::FeatureSet{torch::zeros({1000, 1}), torch::zeros({1000}, torch::kInt64)});
  };
  for (const char* key : {"a", "b", "c", "d"}) ASSERT_TRUE(cache.GetOrCompute(key, make).ok());
  EXPECT_EQ(CountEntries(dir.path()), 2);
  bool hit = false;
  ASSERT_TRUE(cache.GetOrCompute("d", make, &hit).ok());
  EXPECT_TRUE(hit);
  ASSERT_TRUE(cache.GetOrCompute("a", make, &hit).ok());
  EXPECT_FALSE(hit);
}

}  // namespace
}  // namespace tuner::worker
