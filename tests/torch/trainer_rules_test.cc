// The torch trainer follows the rules its users know from Keras Tuner and Keras: each
// execution counts with its best epoch and keeps that epoch's weights, the callbacks watch
// their own monitor with min_delta, executions are independent runs, and a run repeats
// exactly.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <vector>

#include <sched.h>

#include <gtest/gtest.h>

#include "tests/torch/trainer_test_util.h"
#include "tests/worker/recording_context.h"
#include "trial-worker/torch/datasets.h"
#include "trial-worker/torch/torch_trainer.h"
#include "trial-worker/torch/trial_run.h"
#include "trial-worker/training/keras_callbacks.h"

namespace tuner::worker {
namespace {

class TorchTrainerRules : public ::testing::Test {
 protected:
  void SetUp() override { testing::WriteTinyCifar10(data_.path(), 40, 10); }

  // A small lenet5 trial whose validation accuracy goes up and down (a large learning rate
  // on 40 validation images).
  TrialAssignment Noisy(int budget) {
    TrialAssignment a = testing::TinyAssignment(data_.path(), budget);
    a.params["learning_rate"] = 2e-2;
    return a;
  }

  std::vector<EpochReport> Reports(const TrialAssignment& a, TrainResult* result = nullptr) {
    testing::RecordingContext context;
    absl::StatusOr<TrainResult> r = MakeTorchTrainer()->Train(a, context);
    EXPECT_TRUE(r.ok()) << r.status();
    if (result != nullptr && r.ok()) *result = *r;
    return context.reports;
  }

  struct Rescored {
    double val_accuracy = -1;
    double val_loss = -1;
  };
  // The model a checkpoint holds, scored on the validation split by a fresh TrialRun.
  Rescored Rescore(const TrialAssignment& trained) {
    TrialAssignment t = trained;
    t.start_epoch = trained.budget_epochs;
    t.budget_epochs = trained.budget_epochs + 1;
    t.resume_checkpoint_path = trained.checkpoint_out_path;
    t.checkpoint_out_path.clear();
    absl::StatusOr<torchtrainer::TorchTrainerConfig> config =
        torchtrainer::ParseTorchTrainerConfig(t.trainer_config, t.params);
    EXPECT_TRUE(config.ok()) << config.status();
    absl::StatusOr<torchtrainer::DatasetSplits> splits = torchtrainer::LoadSplits(config->dataset);
    EXPECT_TRUE(splits.ok()) << splits.status();
    testing::RecordingContext context;
    torchtrainer::TrialRun run(t, context);
    absl::StatusOr<torch::Tensor> p = run.Probabilities(splits->val, "val");
    EXPECT_TRUE(p.ok()) << p.status();
    Rescored out;
    if (!p.ok()) return out;
    const torch::Tensor& labels = splits->val.labels;
    out.val_accuracy = p->argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
    out.val_loss = -p->to(torch::kDouble).gather(1, labels.unsqueeze(1)).log().mean().item<double>();
    return out;
  }

  testing::TempDir data_;
};

// For each execution, the report of its best epoch by val_accuracy (the first of equals).
std::map<int, EpochReport> BestReports(const std::vector<EpochReport>& reports) {
  std::map<int, EpochReport> best;
  for (const EpochReport& r : reports) {
    auto it = best.find(r.execution);
    if (it == best.end() || r.value > it->second.value) best[r.execution] = r;
  }
  return best;
}

TEST_F(TorchTrainerRules, EachExecutionCountsWithItsBestEpochAndTheTrialWithTheirMean) {
  TrialAssignment a = Noisy(6);
  a.executions = 2;
  TrainResult result;
  const std::vector<EpochReport> reports = Reports(a, &result);
  ASSERT_EQ(reports.size(), 12u);
  const std::map<int, EpochReport> best = BestReports(reports);
  ASSERT_TRUE(best.at(0).epoch < 6 || best.at(1).epoch < 6)
      << "the test needs a best epoch before the last";
  EXPECT_NEAR(result.value, (best.at(0).value + best.at(1).value) / 2, 1e-12);
  EXPECT_NEAR(result.metrics.at("val_loss"),
              (best.at(0).metrics.at("val_loss") + best.at(1).metrics.at("val_loss")) / 2, 1e-12);

  a.reduce_last = true;  // objective.reduce: last
  const std::vector<EpochReport> again = Reports(a, &result);
  ASSERT_EQ(again.size(), 12u);
  EXPECT_NEAR(result.value, (again[10].value + again[11].value) / 2, 1e-12);
}

TEST_F(TorchTrainerRules, TheCheckpointHoldsTheReportedEpochsWeights) {
  // Objective val_loss (minimised): a continuous value, so the rescored loss tells the epochs'
  // weights apart even when two epochs have the same accuracy.
  // Pixels unrelated to labels: the model memorises the training split, so the validation
  // loss is best early and rises afterwards.
  testing::TempDir noise;
  std::mt19937 rng(3);
  for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"}) {
    std::ofstream out(noise.File(name), std::ios::binary);
    for (int i = 0; i < 40 * (1 + 32 * 32 * 3); ++i) {
      out.put(static_cast<char>(i % (1 + 32 * 32 * 3) == 0 ? rng() % 10 : rng() % 256));
    }
  }
  TrialAssignment a = testing::TinyAssignment(noise.path(), 8);
  a.params["learning_rate"] = 1e-2;
  a.objective_metric = "val_loss";
  a.maximize = false;
  a.checkpoint_out_path = data_.File("trial.ckpt");
  TrainResult result;
  const std::vector<EpochReport> reports = Reports(a, &result);
  ASSERT_EQ(reports.size(), 8u);
  const EpochReport* best = &reports[0];
  for (const EpochReport& r : reports) {
    if (r.value < best->value) best = &r;
  }
  ASSERT_LT(best->epoch, 8) << "the test needs a best epoch before the last";
  ASSERT_TRUE(result.checkpoint_written);
  EXPECT_DOUBLE_EQ(result.value, best->value);
  // Re-scoring the uploaded model on the validation split gives exactly the reported epoch's
  // values, not the last epoch's.
  const Rescored rescored = Rescore(a);
  EXPECT_NEAR(rescored.val_loss, best->metrics.at("val_loss"), 1e-5);
  EXPECT_GT(std::abs(rescored.val_loss - reports.back().metrics.at("val_loss")), 1e-4);
  EXPECT_DOUBLE_EQ(rescored.val_accuracy, best->metrics.at("val_accuracy"));
  EXPECT_DOUBLE_EQ(rescored.val_accuracy, result.metrics.at("val_accuracy"));

  // With objective.reduce: last, the last epoch's.
  a.reduce_last = true;
  const std::vector<EpochReport> last = Reports(a, &result);
  EXPECT_DOUBLE_EQ(result.value, last.back().value);
  EXPECT_NEAR(Rescore(a).val_loss, last.back().metrics.at("val_loss"), 1e-5);
}

TEST_F(TorchTrainerRules, RestoreBestWithReduceLastKeepsEarlyStoppingsBestEpoch) {
  // Keras 3 restores the monitor's best weights at the end of training, stopped or not.
  TrialAssignment a = Noisy(6);
  a.reduce_last = true;
  a.checkpoint_out_path = data_.File("es.ckpt");
  a.trainer_config["early_stopping"] = {
      {"monitor", "val_accuracy"}, {"patience", 100}, {"restore_best", true}};
  TrainResult result;
  const std::vector<EpochReport> reports = Reports(a, &result);
  ASSERT_EQ(reports.size(), 6u);
  const EpochReport best = BestReports(reports).at(0);
  ASSERT_LT(best.epoch, 6);
  EXPECT_DOUBLE_EQ(result.value, best.value);
  EXPECT_DOUBLE_EQ(Rescore(a).val_accuracy, best.value);
}

// The epoch at which Keras' EarlyStopping stops on these reports' `monitor` (0: never).
int KerasStopEpoch(const std::vector<EpochReport>& reports, const MonitorConfig& monitor,
                   int patience) {
  EarlyStopping keras(monitor, patience);
  for (const EpochReport& r : reports) {
    if (keras.Update(r.epoch, r.metrics.at(monitor.metric)).stop) return r.epoch;
  }
  return 0;
}

TEST_F(TorchTrainerRules, EarlyStoppingWatchesItsMonitorWithMinDelta) {
  int stopped_early = 0;
  for (const MonitorConfig& monitor :
       {MonitorConfig{"val_loss", "auto", 0.0}, MonitorConfig{"val_loss", "auto", 0.05},
        MonitorConfig{"val_accuracy", "auto", 0.0}, MonitorConfig{"train_loss", "min", 0.02}}) {
    TrialAssignment a = Noisy(10);
    a.trainer_config["early_stopping"] = {
        {"monitor", monitor.metric}, {"mode", monitor.mode}, {"min_delta", monitor.min_delta},
        {"patience", 2}};
    const std::vector<EpochReport> reports = Reports(a);
    ASSERT_FALSE(reports.empty());
    // Replaying the same curve through Keras' rule gives the same stop.
    const int stop = KerasStopEpoch(reports, monitor, 2);
    EXPECT_EQ(reports.back().epoch, stop == 0 ? 10 : stop)
        << monitor.metric << " min_delta " << monitor.min_delta;
    if (stop != 0) ++stopped_early;
  }
  EXPECT_GE(stopped_early, 2) << "the curves should trigger some stops";
}

TEST_F(TorchTrainerRules, PlateauLowersTheRateWhenItsMonitorStallsAsKerasDoes) {
  TrialAssignment a = Noisy(8);
  a.trainer_config["reduce_lr_on_plateau"] = {
      {"monitor", "val_loss"}, {"factor", 0.5}, {"patience", 1}, {"cooldown", 1},
      {"min_delta", 1e-4}};
  const std::vector<EpochReport> reports = Reports(a);
  ASSERT_EQ(reports.size(), 8u);
  ReduceLrOnPlateau keras({"val_loss", "auto", 1e-4}, 0.5, 1, 1, 0);
  int reductions = 0;
  for (size_t i = 0; i + 1 < reports.size(); ++i) {
    const double lr = reports[i].metrics.at("lr");
    const double next = keras.Update(reports[i].metrics.at("val_loss"), lr);
    EXPECT_NEAR(reports[i + 1].metrics.at("lr"), next, 1e-15) << "after epoch " << i + 1;
    if (next < lr) ++reductions;
  }
  EXPECT_GE(reductions, 1);
}

TEST_F(TorchTrainerRules, EachExecutionIsAnIndependentRunOfItsOwnSeed) {
  // Execution 1 of seed 11 is execution 0 of seed 12: its data order, augmentation stream,
  // dropout and initialisation come from its own seed only, never from execution 0's.
  TrialAssignment a = Noisy(2);
  a.trainer_config["augmentation"] = {{"hflip", true}, {"shift", 0.1}};
  a.executions = 2;
  const std::vector<EpochReport> both = Reports(a);
  TrialAssignment b = a;
  b.seed = a.seed + 1;
  b.executions = 1;
  const std::vector<EpochReport> alone = Reports(b);
  ASSERT_EQ(both.size(), 4u);
  ASSERT_EQ(alone.size(), 2u);
  for (int e = 0; e < 2; ++e) {
    const EpochReport& second = both[2 * e + 1];
    ASSERT_EQ(second.execution, 1);
    EXPECT_EQ(second.metrics.at("train_loss"), alone[e].metrics.at("train_loss"));
    EXPECT_EQ(second.metrics.at("val_loss"), alone[e].metrics.at("val_loss"));
    EXPECT_NE(both[2 * e].metrics.at("train_loss"), second.metrics.at("train_loss"));
  }
}

TEST_F(TorchTrainerRules, FrozenCachedExecutionsTrainOnTheirOwnFreshViews) {
  // With augmentation through the feature cache, every (execution, epoch) has its own view:
  // 2 executions x 3 epochs = 6 augmented views of the training split, plus the clean
  // validation split, and a second trial reuses all of them.
  TrialAssignment a = testing::TinyAssignment(data_.path(), 3);
  a.trainer_config["backbone"] = {{"name", "lenet5"}, {"freeze", true}};
  a.trainer_config["augmentation"] = {{"hflip", true}, {"rotation", 10}};
  a.executions = 2;
  a.cache_dir = data_.File("cache");
  const std::vector<EpochReport> first = Reports(a);
  ASSERT_EQ(first.size(), 6u);
  size_t entries = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(a.cache_dir)) {
    if (f.is_regular_file() && f.path().extension() == ".feat") ++entries;
  }
  EXPECT_EQ(entries, 7u);
  EXPECT_NE(first[0].metrics.at("train_loss"), first[1].metrics.at("train_loss"));
  // Same trial again: every view comes from the cache and the run repeats exactly.
  const std::vector<EpochReport> second = Reports(a);
  ASSERT_EQ(second.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(second[i].metrics.at("val_loss"), first[i].metrics.at("val_loss")) << i;
  }
}

TEST_F(TorchTrainerRules, FrozenCachedExecutionsTrainTogetherAsTheyWouldOneByOne) {
  // --threads 2 with 3 executions over cached features: two threads take the executions in
  // turn, each op single-threaded. --threads 1 trains them one after the other with the same
  // single-threaded ops. Training draws the same dropout masks, orders and views either way,
  // so the training losses agree bit for bit (validation runs on the main thread with the
  // trial's thread count, so its sums may round differently).
  TrialAssignment a = testing::TinyAssignment(data_.path(), 3);
  a.trainer_config["backbone"] = {{"name", "lenet5"}, {"freeze", true}};
  a.trainer_config["augmentation"] = {{"hflip", true}, {"rotation", 10}};
  a.params["dropout"] = 0.5;
  a.executions = 3;
  a.cache_dir = data_.File("cache");
  a.threads = 2;
  const std::vector<EpochReport> together = Reports(a);
  const std::vector<EpochReport> together_again = Reports(a);
  a.threads = 1;
  const std::vector<EpochReport> one_by_one = Reports(a);
  ASSERT_EQ(together.size(), 9u);
  ASSERT_EQ(one_by_one.size(), together.size());
  ASSERT_EQ(together_again.size(), together.size());
  for (size_t i = 0; i < together.size(); ++i) {
    EXPECT_EQ(together[i].execution, one_by_one[i].execution);
    EXPECT_EQ(together[i].metrics.at("train_loss"), one_by_one[i].metrics.at("train_loss")) << i;
    EXPECT_EQ(together[i].metrics.at("train_loss"), together_again[i].metrics.at("train_loss")) << i;
    EXPECT_EQ(together[i].metrics.at("val_accuracy"), one_by_one[i].metrics.at("val_accuracy")) << i;
    EXPECT_NEAR(together[i].metrics.at("val_loss"), one_by_one[i].metrics.at("val_loss"), 1e-6) << i;
  }
  EXPECT_NE(together[0].metrics.at("train_loss"), together[1].metrics.at("train_loss"));
}

TEST_F(TorchTrainerRules, TheSameSpecSeedAndThreadsGiveTheSameCurve) {
  // Augmentation on the loader thread, dropout and a trained backbone: everything that draws
  // random numbers. Two runs agree to 1e-6 (in practice bit for bit).
  TrialAssignment a = Noisy(3);
  a.trainer_config["augmentation"] = {{"hflip", true}, {"rotation", 10}, {"cutout", 4}};
  a.executions = 2;
  const std::vector<EpochReport> one = Reports(a);
  const std::vector<EpochReport> two = Reports(a);
  ASSERT_EQ(one.size(), 6u);
  ASSERT_EQ(two.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    for (const char* metric : {"val_accuracy", "val_loss", "train_loss"}) {
      EXPECT_NEAR(two[i].metrics.at(metric), one[i].metrics.at(metric), 1e-6)
          << metric << " report " << i;
    }
  }
}

TEST_F(TorchTrainerRules, TheThreadCountIsAlwaysSetAndZeroMeansTheCpusOfTheAffinityMask) {
  // libtorch's own default is whatever OpenMP sees, which differs between launches; results
  // depend on it, so the trainer never leaves it to chance.
  TrialAssignment a = testing::TinyAssignment(data_.path(), 1);
  a.threads = 1;
  Reports(a);
  EXPECT_EQ(torch::get_num_threads(), 1);
  a.threads = 0;
  Reports(a);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(torch::get_num_threads(), CPU_COUNT(&set));
  a.threads = 2;
  Reports(a);
  EXPECT_EQ(torch::get_num_threads(), 2);
}

}  // namespace
}  // namespace tuner::worker
