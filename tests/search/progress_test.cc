#include "search/progress.h"

#include <gtest/gtest.h>

#include "search/asha.h"
#include "search/hyperband.h"

namespace tuner::search {
namespace {

TrialRecord Trial(int64_t number, TrialState state, int epochs_trained, int executions = 1,
                  int bracket = -1, int rung = 0, int budget = 0) {
  TrialRecord t;
  t.number = number;
  t.state = state;
  t.bracket = bracket;
  t.rung = rung;
  t.budget_epochs = budget;
  for (int e = 0; e < executions; ++e) {
    for (int epoch = 1; epoch <= epochs_trained; ++epoch) t.execution_values[{e, epoch}] = 0.5;
  }
  return t;
}

StudySpec RandomSpec(int epochs, int executions) {
  StudySpec spec;
  spec.algorithm = Algorithm::kRandom;
  spec.epochs = epochs;
  spec.executions_per_trial = executions;
  return spec;
}

TEST(EstimateEpochs, RandomCountsRunningTrialsEpochsAndPlansEveryTrialsBudget) {
  const StudySpec spec = RandomSpec(4, 1);
  std::vector<TrialRecord> history = {Trial(0, TrialState::kCompleted, 4, 1, -1, 0, 4),
                                      Trial(1, TrialState::kRunning, 2, 1, -1, 0, 4),
                                      Trial(2, TrialState::kPending, 0, 1, -1, 0, 4)};
  const EpochProgress p = EstimateEpochs(spec, history, 5, false);
  EXPECT_EQ(p.done, 6);
  EXPECT_EQ(p.planned, 20);  // 5 trials x 4 epochs
  // Each reported epoch of the running trial is credited: done grows, planned stays.
  history[1] = Trial(1, TrialState::kRunning, 3, 1, -1, 0, 4);
  EXPECT_EQ(EstimateEpochs(spec, history, 5, false).done, 7);
  EXPECT_EQ(EstimateEpochs(spec, history, 5, false).planned, 20);
  // A trial pruned or failed early frees its remaining epochs.
  history[1] = Trial(1, TrialState::kPruned, 1, 1, -1, 0, 4);
  EXPECT_EQ(EstimateEpochs(spec, history, 5, false).planned, 17);
}

TEST(EstimateEpochs, CountsEveryExecution) {
  const StudySpec spec = RandomSpec(3, 2);
  const std::vector<TrialRecord> history = {Trial(0, TrialState::kRunning, 2, 2, -1, 0, 3)};
  const EpochProgress p = EstimateEpochs(spec, history, 2, false);
  EXPECT_EQ(p.done, 4);
  EXPECT_EQ(p.planned, 12);  // 2 trials x 3 epochs x 2 executions
}

TEST(EstimateEpochs, UnknownPlanIsZeroAndAFinishedStudyPlansWhatItTrained) {
  const StudySpec spec = RandomSpec(4, 1);
  const std::vector<TrialRecord> history = {Trial(0, TrialState::kRunning, 2, 1, -1, 0, 4)};
  EXPECT_EQ(EstimateEpochs(spec, history, 0, false).planned, 0);
  const EpochProgress stopped = EstimateEpochs(spec, history, 10, /*finished=*/true);
  EXPECT_EQ(stopped.done, 2);
  EXPECT_EQ(stopped.planned, 2);
}

TEST(EstimateEpochs, HyperbandPlansItsScheduleExactlyBeforeAnyTrial) {
  StudySpec spec;
  spec.algorithm = Algorithm::kHyperband;
  spec.hyperband.max_epochs = 27;
  spec.hyperband.eta = 3;
  spec.hyperband.iterations = 2;
  int64_t exact = 0;  // each configuration trains to the last rung it reaches
  for (const BracketSchedule& b : HyperbandSchedule(27, 3)) {
    for (size_t i = 0; i < b.trials.size(); ++i) {
      const int next = i + 1 < b.trials.size() ? b.trials[i + 1] : 0;
      exact += static_cast<int64_t>(b.trials[i] - next) * b.epochs[i];
    }
  }
  const EpochProgress p = EstimateEpochs(spec, {}, 0, false);
  EXPECT_EQ(p.done, 0);
  EXPECT_EQ(p.planned, 2 * exact);
}

TEST(EstimateEpochs, HyperbandGivesAPrunedTrialNoMoreEpochs) {
  StudySpec spec;
  spec.algorithm = Algorithm::kHyperband;
  spec.hyperband.max_epochs = 9;
  spec.hyperband.eta = 3;
  const int64_t before = EstimateEpochs(spec, {}, 0, false).planned;
  // Bracket 0 (s = 2): 9 configurations at 1 epoch, 3 at 3, 1 at 9. One trained its epoch and
  // was pruned at rung 0: it was expected to train 1 + 3/9 * 2 + 1/9 * 6 epochs.
  const std::vector<TrialRecord> history = {Trial(0, TrialState::kPruned, 1, 1, 0, 0, 1)};
  const EpochProgress p = EstimateEpochs(spec, history, 0, false);
  EXPECT_EQ(p.done, 1);
  EXPECT_EQ(p.planned, before - 1);  // llround(before_exact - 4/3)
}

TEST(EstimateEpochs, AshaWeighsPromotionsByOneOverEta) {
  StudySpec spec;
  spec.algorithm = Algorithm::kAsha;
  spec.asha.min_epochs = 1;
  spec.asha.max_epochs = 9;
  spec.asha.eta = 3;
  spec.asha.brackets = 1;
  // Rungs {1, 3, 9}: 1 + (3 - 1) / 3 + (9 - 3) / 9 epochs per configuration.
  const double per_trial = 1 + 2.0 / 3 + 6.0 / 9;
  EXPECT_EQ(EstimateEpochs(spec, {}, 9, false).planned, std::llround(9 * per_trial));
  // A trial promoted to rung 2 is expected to finish its 9 epochs.
  const std::vector<TrialRecord> history = {Trial(0, TrialState::kRunning, 4, 1, 0, 2, 9)};
  const EpochProgress p = EstimateEpochs(spec, history, 9, false);
  EXPECT_EQ(p.done, 4);
  EXPECT_EQ(p.planned, std::llround(9 + 8 * per_trial));
}

}  // namespace
}  // namespace tuner::search
