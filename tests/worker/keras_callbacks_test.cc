// Keras' EarlyStopping and ReduceLROnPlateau decisions, epoch by epoch, on sequences whose
// outcome follows from keras/src/callbacks/early_stopping.py and reduce_lr_on_plateau.py
// (Keras counts epochs from 0; these tests from 1, as the trainers report them).
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "trial-worker/training/keras_callbacks.h"

namespace tuner::worker {
namespace {

// The epoch at which early stopping stops (0: never) and the best epoch, for `values`.
std::pair<int, int> RunEarlyStopping(const MonitorConfig& monitor, int patience,
                                     const std::vector<double>& values, int start_from = 0) {
  EarlyStopping es(monitor, patience, start_from);
  for (size_t i = 0; i < values.size(); ++i) {
    if (es.Update(static_cast<int>(i) + 1, values[i]).stop) {
      return {static_cast<int>(i) + 1, es.best_epoch()};
    }
  }
  return {0, es.best_epoch()};
}

TEST(KerasCallbacks, AutoModeMaximisesAccuraciesAndMinimisesEverythingElse) {
  EXPECT_EQ(ResolveMonitorMode("val_accuracy", "auto"), MonitorMode::kMax);
  EXPECT_EQ(ResolveMonitorMode("val_loss", "auto"), MonitorMode::kMin);
  EXPECT_EQ(ResolveMonitorMode("train_loss", "auto"), MonitorMode::kMin);
  EXPECT_EQ(ResolveMonitorMode("val_loss", "max"), MonitorMode::kMax);
  EXPECT_EQ(ResolveMonitorMode("val_accuracy", "min"), MonitorMode::kMin);
}

TEST(KerasCallbacks, EarlyStoppingStopsAfterPatienceEpochsWithoutImprovementOfValLoss) {
  // val_loss improves until epoch 3, then 5 epochs without improvement: stop at epoch 8.
  const std::vector<double> loss = {1.0, 0.8, 0.7, 0.75, 0.71, 0.9, 0.72, 0.7, 0.6};
  EXPECT_EQ(RunEarlyStopping({"val_loss", "auto", 0}, 5, loss), std::make_pair(8, 3));
  // An equal value is no improvement (strict comparison): epoch 8's 0.7 does not reset.
  EXPECT_EQ(RunEarlyStopping({"val_loss", "auto", 0}, 6, loss), std::make_pair(0, 9));
}

TEST(KerasCallbacks, EarlyStoppingMinDeltaIgnoresSmallImprovements) {
  // Improvements of 0.005 do not count with min_delta 0.01: stop after 2 epochs of them.
  const std::vector<double> loss = {1.0, 0.995, 0.99, 0.5};
  EXPECT_EQ(RunEarlyStopping({"val_loss", "auto", 0.01}, 2, loss), std::make_pair(3, 1));
  EXPECT_EQ(RunEarlyStopping({"val_loss", "auto", 0.0}, 2, loss), std::make_pair(0, 4));
  // Max mode: value - min_delta must exceed the best.
  const std::vector<double> acc = {0.5, 0.505, 0.52, 0.521, 0.522};
  EXPECT_EQ(RunEarlyStopping({"val_accuracy", "auto", 0.01}, 2, acc), std::make_pair(5, 3));
}

TEST(KerasCallbacks, EarlyStoppingNeverStopsAtTheFirstEpochAndWaitsForStartFromEpoch) {
  // patience 0: the first epoch that does not improve stops, but never the first epoch.
  EXPECT_EQ(RunEarlyStopping({"val_loss", "auto", 0}, 0, {1.0, 1.2}), std::make_pair(2, 1));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(RunEarlyStopping({"val_loss", "auto", 0}, 0, {nan, 1.0}), std::make_pair(0, 2));
  // start_from_epoch 2: epochs 1 and 2 are not watched.
  EXPECT_EQ(RunEarlyStopping({"val_loss", "auto", 0}, 1, {0.1, 0.2, 0.5, 0.6}, 2),
            std::make_pair(4, 3));
}

TEST(KerasCallbacks, EarlyStoppingStateSurvivesJson) {
  EarlyStopping es({"val_loss", "auto", 0}, 2);
  es.Update(1, 1.0);
  es.Update(2, 1.5);
  EarlyStopping resumed({"val_loss", "auto", 0}, 2);
  ASSERT_TRUE(resumed.FromJson(es.ToJson()).ok());
  EXPECT_EQ(resumed.best_epoch(), 1);
  EXPECT_EQ(resumed.wait(), 1);
  EXPECT_TRUE(resumed.Update(3, 1.2).stop);
  EarlyStopping fresh({"val_loss", "auto", 0}, 2);
  ASSERT_TRUE(fresh.FromJson(EarlyStopping({"val_loss", "auto", 0}, 2).ToJson()).ok());
  EXPECT_FALSE(fresh.Update(1, 1e300).stop);  // the initial best (inf) came back as inf
  EXPECT_EQ(fresh.best_epoch(), 1);
  EXPECT_EQ(resumed.FromJson(nlohmann::json::object()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(KerasCallbacks, PlateauHalvesTheRateAfterPatienceEpochsAndRespectsMinDelta) {
  // The seed's ReduceLROnPlateau(val_loss, factor 0.5, patience 2), Keras' min_delta 1e-4.
  ReduceLrOnPlateau plateau({"val_loss", "auto", 1e-4}, 0.5, 2, 0, 0);
  double lr = 1e-3;
  lr = plateau.Update(1.0, lr);      // best 1.0
  lr = plateau.Update(0.99995, lr);  // less than min_delta better: wait 1
  EXPECT_DOUBLE_EQ(lr, 1e-3);
  lr = plateau.Update(0.99999, lr);  // wait 2: halve
  EXPECT_DOUBLE_EQ(lr, 5e-4);
  EXPECT_EQ(plateau.wait(), 0);
  lr = plateau.Update(0.9, lr);      // improvement
  lr = plateau.Update(0.95, lr);
  EXPECT_DOUBLE_EQ(lr, 5e-4);
  lr = plateau.Update(0.95, lr);
  EXPECT_DOUBLE_EQ(lr, 2.5e-4);
}

TEST(KerasCallbacks, PlateauCooldownAndMinLr) {
  ReduceLrOnPlateau plateau({"val_accuracy", "auto", 0}, 0.1, 1, 2, 1e-5);
  double lr = 1e-3;
  lr = plateau.Update(0.5, lr);   // best 0.5 (max mode)
  lr = plateau.Update(0.4, lr);   // wait 1 = patience: reduce, cooldown 2
  EXPECT_DOUBLE_EQ(lr, 1e-4);
  lr = plateau.Update(0.4, lr);   // cooldown 2 -> 1: no waiting
  lr = plateau.Update(0.4, lr);   // cooldown 1 -> 0, wait reset; not in cooldown: wait 1
  EXPECT_NEAR(lr, 1e-5, 1e-18);   // reduced to max(1e-5, 1e-5)
  for (int i = 0; i < 5; ++i) lr = plateau.Update(0.4, lr);
  EXPECT_NEAR(lr, 1e-5, 1e-18);   // at min_lr: no further reduction
  ReduceLrOnPlateau resumed({"val_accuracy", "auto", 0}, 0.1, 1, 2, 1e-5);
  ASSERT_TRUE(resumed.FromJson(plateau.ToJson()).ok());
  EXPECT_DOUBLE_EQ(resumed.best(), 0.5);
  EXPECT_EQ(resumed.cooldown_counter(), plateau.cooldown_counter());
}

}  // namespace
}  // namespace tuner::worker
