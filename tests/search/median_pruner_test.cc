#include "search/median_pruner.h"

#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace tuner::search {
namespace {

TrialRecord Trial(int64_t number, TrialState state, std::map<int, double> intermediate) {
  TrialRecord trial;
  trial.number = number;
  trial.state = state;
  trial.intermediate = std::move(intermediate);
  return trial;
}

PrunerSpec Median(int startup = 3, int warmup = 0, int interval = 1) {
  PrunerSpec spec;
  spec.kind = PrunerKind::kMedian;
  spec.n_startup_trials = startup;
  spec.n_warmup_epochs = warmup;
  spec.interval_epochs = interval;
  return spec;
}

// Three completed trials with values 0.5, 0.6, 0.7 at epoch 2 (median 0.6), then the judged one.
std::vector<TrialRecord> History(double judged_value_at_2) {
  return {Trial(0, TrialState::kCompleted, {{1, 0.3}, {2, 0.5}}),
          Trial(1, TrialState::kCompleted, {{1, 0.4}, {2, 0.6}}),
          Trial(2, TrialState::kCompleted, {{1, 0.5}, {2, 0.7}}),
          Trial(3, TrialState::kRunning, {{1, 0.1}, {2, judged_value_at_2}})};
}

TEST(MedianPruner, StopsATrialWorseThanTheMedianAtTheSameEpoch) {
  PruneDecision decision = DecidePrune(Median(), /*maximize=*/true, History(0.55), 3, 0, 2);
  EXPECT_TRUE(decision.prune);
  EXPECT_DOUBLE_EQ(decision.median, 0.6);
  EXPECT_DOUBLE_EQ(decision.value, 0.55);
  EXPECT_EQ(decision.references, 3);
}

TEST(MedianPruner, KeepsATrialAtOrAboveTheMedian) {
  EXPECT_FALSE(DecidePrune(Median(), true, History(0.6), 3, 0, 2).prune);
  EXPECT_FALSE(DecidePrune(Median(), true, History(0.65), 3, 0, 2).prune);
}

TEST(MedianPruner, JudgesTheBestValueSoFarNotTheLatest) {
  // Epoch 1 reached 0.9: a dip to 0.2 at epoch 2 is not pruned (Optuna's rule).
  std::vector<TrialRecord> history = History(0.2);
  history[3].intermediate[1] = 0.9;
  PruneDecision decision = DecidePrune(Median(), true, history, 3, 0, 2);
  EXPECT_FALSE(decision.prune);
  EXPECT_DOUBLE_EQ(decision.value, 0.9);
}

TEST(MedianPruner, MinimizeStopsValuesAboveTheMedian) {
  std::vector<TrialRecord> history = History(0.65);
  history[3].intermediate[1] = 0.8;
  EXPECT_TRUE(DecidePrune(Median(), /*maximize=*/false, history, 3, 0, 2).prune);
  history[3].intermediate[2] = 0.55;
  EXPECT_FALSE(DecidePrune(Median(), false, history, 3, 0, 2).prune);
}

TEST(MedianPruner, NeverBeforeTheWarmupEpoch) {
  // n_warmup_epochs 3: epoch 2 is never judged; with 2, epoch 2 is (epoch < warmup only).
  EXPECT_FALSE(DecidePrune(Median(3, 3), true, History(0.55), 3, 0, 2).prune);
  EXPECT_TRUE(DecidePrune(Median(3, 2), true, History(0.55), 3, 0, 2).prune);
  EXPECT_TRUE(DecidePrune(Median(3, 0), true, History(0.55), 3, 0, 1).prune);
}

TEST(MedianPruner, OnlyAtTheFirstReportOfEachInterval) {
  std::vector<TrialRecord> history = History(0.1);
  for (TrialRecord& t : history) t.intermediate[3] = t.intermediate[2];
  // interval 2 from warmup 0: epochs 2, 4, ... are judged; epoch 3 follows a report at 2.
  EXPECT_TRUE(DecidePrune(Median(3, 0, 2), true, history, 3, 0, 2).prune);
  EXPECT_FALSE(DecidePrune(Median(3, 0, 2), true, history, 3, 0, 3).prune);
  EXPECT_TRUE(DecidePrune(Median(3, 0, 1), true, history, 3, 0, 3).prune);
  // A trial that skipped epoch 2 is judged at its first report past it.
  history[3].intermediate.erase(2);
  EXPECT_TRUE(DecidePrune(Median(3, 0, 2), true, history, 3, 0, 3).prune);
}

TEST(MedianPruner, NeverBeforeTheStartupTrialsCompleted) {
  std::vector<TrialRecord> history = History(0.1);
  EXPECT_FALSE(DecidePrune(Median(4), true, history, 3, 0, 2).prune);
  // Running, pruned and failed trials do not count, nor serve as references.
  history.push_back(Trial(4, TrialState::kPruned, {{2, 0.9}}));
  history.push_back(Trial(5, TrialState::kRunning, {{2, 0.9}}));
  EXPECT_FALSE(DecidePrune(Median(4), true, history, 3, 0, 2).prune);
  PruneDecision decision = DecidePrune(Median(3), true, history, 3, 0, 2);
  EXPECT_TRUE(decision.prune);
  EXPECT_EQ(decision.references, 3);
}

TEST(MedianPruner, EvenCountUsesTheMeanOfTheMiddleTwo) {
  std::vector<TrialRecord> history = History(0.62);
  history.insert(history.begin() + 3, Trial(3, TrialState::kCompleted, {{2, 0.8}}));
  history.back().number = 4;
  PruneDecision decision = DecidePrune(Median(), true, history, 4, 0, 2);
  EXPECT_DOUBLE_EQ(decision.median, 0.65);
  EXPECT_TRUE(decision.prune);
}

TEST(MedianPruner, NoReferenceAtThatEpochNoPrune) {
  std::vector<TrialRecord> history = History(0.1);
  history[3].intermediate[5] = 0.0;
  EXPECT_FALSE(DecidePrune(Median(), true, history, 3, 0, 5).prune);
}

TEST(MedianPruner, ComparesAnExecutionWithTheSameExecutionOfOtherTrials) {
  // Execution 1 is the harder one everywhere: compared with the others' execution 1 (median
  // 0.4) its 0.45 survives, though it is below the median of their execution 0 (0.6).
  std::vector<TrialRecord> history = History(0.0);
  for (int k = 0; k < 3; ++k) {
    history[k].execution_values = {{{0, 2}, 0.5 + 0.1 * k}, {{1, 2}, 0.3 + 0.1 * k}};
  }
  history[3].execution_values = {{{0, 2}, 0.65}, {{1, 2}, 0.45}};
  EXPECT_FALSE(DecidePrune(Median(), true, history, 3, 1, 2).prune);
  history[3].execution_values[{1, 2}] = 0.35;
  PruneDecision decision = DecidePrune(Median(), true, history, 3, 1, 2);
  EXPECT_TRUE(decision.prune);
  EXPECT_DOUBLE_EQ(decision.median, 0.4);
  EXPECT_FALSE(DecidePrune(Median(), true, history, 3, 0, 2).prune);
}

TEST(MedianPruner, KindNoneNeverPrunes) {
  PrunerSpec none;
  EXPECT_FALSE(DecidePrune(none, true, History(0.0), 3, 0, 2).prune);
}

}  // namespace
}  // namespace tuner::search
