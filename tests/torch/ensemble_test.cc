// Top-k ensembles in the torch trainer: three small trials keep their final checkpoints, then
// EvaluateEnsemble scores the averaged softmax of their models on the held-out test set.
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "tests/torch/trainer_test_util.h"
#include "tests/worker/recording_context.h"
#include "trial-worker/torch/datasets.h"
#include "trial-worker/torch/torch_trainer.h"
#include "trial-worker/torch/trial_run.h"

namespace tuner::worker {
namespace {

double Accuracy(const torch::Tensor& probabilities, const torch::Tensor& labels) {
  return probabilities.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
}

// The member's model as its checkpoint left it, scored on `set` by a fresh TrialRun.
torch::Tensor MemberProbabilities(const TrialAssignment& trained, const std::string& checkpoint,
                                  const torchtrainer::ImageSet& set, const std::string& split) {
  TrialAssignment t = trained;
  t.start_epoch = trained.budget_epochs;
  t.budget_epochs = trained.budget_epochs + 1;
  t.resume_checkpoint_path = checkpoint;
  t.checkpoint_out_path.clear();
  testing::RecordingContext context;
  torchtrainer::TrialRun run(t, context);
  absl::StatusOr<torch::Tensor> p = run.Probabilities(set, split);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : torch::Tensor();
}

TEST(TorchEnsemble, AveragedSoftmaxOfTheMembersIsScoredOnTheTestSet) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 40, 30);
  EnsembleAssignment ensemble;
  ensemble.study_id = 1;
  ensemble.ensemble_id = 1;
  ensemble.threads = 2;
  std::vector<TrialAssignment> trials;
  std::vector<double> val_accuracy;
  const double learning_rates[] = {3e-3, 1e-3, 6e-3};
  for (int i = 0; i < 3; ++i) {
    TrialAssignment a = testing::TinyAssignment(dir.path(), 4);
    a.trial_id = 10 + i;
    a.seed = 100 + i;
    a.params["learning_rate"] = learning_rates[i];
    a.checkpoint_out_path = dir.File("trial" + std::to_string(i) + ".ckpt");
    testing::RecordingContext context;
    absl::StatusOr<TrainResult> trained = MakeTorchTrainer()->Train(a, context);
    ASSERT_TRUE(trained.ok()) << trained.status();
    ASSERT_TRUE(trained->checkpoint_written);
    val_accuracy.push_back(trained->metrics.at("val_accuracy"));
    ensemble.trainer_config = a.trainer_config;
    ensemble.members.push_back({a.trial_id, a.params, a.checkpoint_out_path});
    trials.push_back(a);
  }

  absl::StatusOr<EnsembleResult> result = MakeTorchTrainer()->EvaluateEnsemble(ensemble);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->test_images, 30);
  ASSERT_EQ(result->member_test_accuracies.size(), 3u);

  // By hand: each member alone, then the mean of their softmax outputs.
  torchtrainer::DatasetConfig data;
  data.name = "cifar10";
  data.path = dir.path();
  absl::StatusOr<torchtrainer::ImageSet> test = torchtrainer::LoadImageSet(data, true);
  ASSERT_TRUE(test.ok()) << test.status();
  torch::Tensor sum;
  for (int i = 0; i < 3; ++i) {
    torch::Tensor p = MemberProbabilities(trials[i], trials[i].checkpoint_out_path, *test, "test");
    ASSERT_TRUE(p.defined());
    ASSERT_EQ(p.size(0), 30);
    EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({30}), 1e-4, 1e-5));
    EXPECT_DOUBLE_EQ(result->member_test_accuracies[i], Accuracy(p, test->labels));
    sum = sum.defined() ? sum + p : p;
  }
  EXPECT_DOUBLE_EQ(result->test_accuracy, Accuracy(sum / 3.0, test->labels));
  EXPECT_GT(result->test_accuracy, 0.2);  // 10 classes: well above chance after 4 epochs

  // The rebuilt model is the trained one: on the validation split it scores exactly what the
  // trial reported (its best epoch).
  absl::StatusOr<torchtrainer::TorchTrainerConfig> config =
      torchtrainer::ParseTorchTrainerConfig(trials[0].trainer_config, trials[0].params);
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<torchtrainer::DatasetSplits> splits = torchtrainer::LoadSplits(config->dataset);
  ASSERT_TRUE(splits.ok()) << splits.status();
  for (int i = 0; i < 3; ++i) {
    torch::Tensor p =
        MemberProbabilities(trials[i], trials[i].checkpoint_out_path, splits->val, "val");
    ASSERT_TRUE(p.defined());
    EXPECT_NEAR(Accuracy(p, splits->val.labels), val_accuracy[i], 1e-9) << "member " << i;
  }
}

TEST(TorchEnsemble, FrozenBackboneMembersWithTwoExecutionsAverageBothThroughTheFeatureCache) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 24, 20);
  EnsembleAssignment ensemble;
  ensemble.threads = 2;
  ensemble.cache_dir = dir.File("cache");
  std::vector<TrialAssignment> trials;
  for (int i = 0; i < 2; ++i) {
    TrialAssignment a = testing::TinyAssignment(dir.path(), 1);
    a.trainer_config["backbone"] = {{"name", "lenet5"}, {"freeze", true}};
    a.trial_id = 20 + i;
    a.seed = 200 + i;
    a.executions = 2;
    a.cache_dir = ensemble.cache_dir;
    a.checkpoint_out_path = dir.File("frozen" + std::to_string(i) + ".ckpt");
    testing::RecordingContext context;
    absl::StatusOr<TrainResult> trained = MakeTorchTrainer()->Train(a, context);
    ASSERT_TRUE(trained.ok()) << trained.status();
    ensemble.trainer_config = a.trainer_config;
    ensemble.members.push_back({a.trial_id, a.params, a.checkpoint_out_path});
    trials.push_back(a);
  }
  absl::StatusOr<EnsembleResult> result = MakeTorchTrainer()->EvaluateEnsemble(ensemble);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->test_images, 20);

  torchtrainer::DatasetConfig data;
  data.name = "cifar10";
  data.path = dir.path();
  absl::StatusOr<torchtrainer::ImageSet> test = torchtrainer::LoadImageSet(data, true);
  ASSERT_TRUE(test.ok()) << test.status();
  torch::Tensor sum;
  for (int i = 0; i < 2; ++i) {
    TrialAssignment uncached = trials[i];
    uncached.cache_dir.clear();  // features computed again: the cache must not change them
    torch::Tensor p = MemberProbabilities(uncached, trials[i].checkpoint_out_path, *test, "test");
    ASSERT_TRUE(p.defined());
    EXPECT_DOUBLE_EQ(result->member_test_accuracies[i], Accuracy(p, test->labels));
    sum = sum.defined() ? sum + p : p;
  }
  EXPECT_DOUBLE_EQ(result->test_accuracy, Accuracy(sum / 2.0, test->labels));
}

TEST(TorchEnsemble, MembersOfABackboneChoiceEachRunTheirOwnBackboneAndPreprocessing) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 24, 20);
  EnsembleAssignment ensemble;
  ensemble.threads = 2;
  std::vector<TrialAssignment> trials;
  // lenet5 trains from scratch on ImageNet-normalised input; googlenet is frozen and
  // normalises with 0.5 / 0.5 (its torchvision transform_input).
  for (const char* backbone : {"lenet5", "googlenet"}) {
    TrialAssignment a = testing::TinyAssignment(dir.path(), 1);
    a.trainer_config["backbone"] = {{"name", {{"param", "backbone"}}}};
    a.params["backbone"] = std::string(backbone);
    a.trial_id = 30 + static_cast<int64_t>(trials.size());
    a.checkpoint_out_path = dir.File(std::string(backbone) + ".ckpt");
    testing::RecordingContext context;
    absl::StatusOr<TrainResult> trained = MakeTorchTrainer()->Train(a, context);
    ASSERT_TRUE(trained.ok()) << backbone << ": " << trained.status();
    ensemble.trainer_config = a.trainer_config;
    ensemble.members.push_back({a.trial_id, a.params, a.checkpoint_out_path});
    trials.push_back(a);
  }
  absl::StatusOr<EnsembleResult> result = MakeTorchTrainer()->EvaluateEnsemble(ensemble);
  ASSERT_TRUE(result.ok()) << result.status();
  torchtrainer::DatasetConfig data;
  data.name = "cifar10";
  data.path = dir.path();
  absl::StatusOr<torchtrainer::ImageSet> test = torchtrainer::LoadImageSet(data, true);
  ASSERT_TRUE(test.ok()) << test.status();
  torch::Tensor sum;
  for (size_t i = 0; i < trials.size(); ++i) {
    torch::Tensor p = MemberProbabilities(trials[i], trials[i].checkpoint_out_path, *test, "test");
    ASSERT_TRUE(p.defined());
    EXPECT_DOUBLE_EQ(result->member_test_accuracies[i], Accuracy(p, test->labels));
    sum = sum.defined() ? sum + p : p;
  }
  EXPECT_DOUBLE_EQ(result->test_accuracy, Accuracy(sum / 2.0, test->labels));
}

TEST(TorchEnsemble, AMissingOrForeignCheckpointIsRefusedNamingTheTrial) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 8, 4);
  TrialAssignment a = testing::TinyAssignment(dir.path(), 1);
  EnsembleAssignment ensemble;
  ensemble.trainer_config = a.trainer_config;
  ensemble.members.push_back({42, a.params, dir.File("absent.ckpt")});
  absl::StatusOr<EnsembleResult> missing = MakeTorchTrainer()->EvaluateEnsemble(ensemble);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("trial 42"), std::string::npos) << missing.status();
  {
    std::ofstream junk(dir.File("junk.ckpt"));
    junk << "not a checkpoint";
  }
  ensemble.members[0].checkpoint_path = dir.File("junk.ckpt");
  absl::StatusOr<EnsembleResult> foreign = MakeTorchTrainer()->EvaluateEnsemble(ensemble);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kFailedPrecondition) << foreign.status();
}

}  // namespace
}  // namespace tuner::worker
