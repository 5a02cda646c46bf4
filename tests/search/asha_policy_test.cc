#include <algorithm>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "search/asha.h"
#include "search/tpe_sampler.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using specs::MustParse;
using specs::SpecYaml;

std::unique_ptr<AshaPolicy> Make(const std::string& algorithm, uint64_t seed = 3) {
  return specs::MakePolicy<AshaPolicy>(algorithm, seed);
}

double Score(const Params& params, int epochs) { return specs::HashScore(params, epochs); }

TrialRecord Paused(int64_t number, int rung, int epochs, double value, int bracket = 0) {
  TrialRecord trial;
  trial.number = number;
  trial.state = TrialState::kPaused;
  trial.bracket = bracket;
  trial.rung = rung;
  trial.budget_epochs = epochs;
  trial.value = value;
  trial.intermediate[epochs] = value;
  return trial;
}

// A trial that left rung `rung` (value `value` at `epochs`) and is now `state` one rung up.
TrialRecord MovedOn(int64_t number, int rung, int epochs, double value, TrialState state) {
  TrialRecord trial = Paused(number, rung + 1, epochs * 3, value);
  trial.state = state;
  trial.value.reset();
  trial.intermediate = {{epochs, value}};
  return trial;
}

TEST(AshaRungEpochs, GeometricFromMinEpochsEndingAtMaxEpochs) {
  EXPECT_EQ(AshaRungEpochs(1, 9, 3, 0), (std::vector<int>{1, 3, 9}));
  EXPECT_EQ(AshaRungEpochs(1, 10, 3, 0), (std::vector<int>{1, 3, 9, 10}));
  EXPECT_EQ(AshaRungEpochs(1, 9, 3, 1), (std::vector<int>{3, 9}));
  EXPECT_EQ(AshaRungEpochs(2, 81, 3, 0), (std::vector<int>{2, 6, 18, 54, 81}));
  EXPECT_EQ(AshaRungEpochs(1, 81, 3, 4), (std::vector<int>{81}));
  EXPECT_EQ(AshaRungEpochs(5, 5, 2, 0), (std::vector<int>{5}));
  EXPECT_TRUE(AshaRungEpochs(0, 9, 3, 0).empty());
  EXPECT_TRUE(AshaRungEpochs(1, 9, 1, 0).empty());
}

TEST(AshaPolicy, PromotesTheTopThirdOfARungWithoutWaitingForItToFill) {
  auto policy = Make("{kind: asha, max_trials: 30, max_epochs: 9}");
  std::vector<TrialRecord> history = {Paused(0, 0, 1, 0.1), Paused(1, 0, 1, 0.5)};
  // Two finishers: floor(2/3) = 0 may move up, so the worker gets a new configuration.
  Plan plan = policy->Next(history, 1);
  EXPECT_TRUE(plan.promotions.empty());
  ASSERT_EQ(plan.new_trials.size(), 1u);
  EXPECT_EQ(plan.new_trials[0].rung, 0);
  EXPECT_EQ(plan.new_trials[0].budget_epochs, 1);
  // A third finisher: the best of three moves to rung 1 (3 epochs) at once.
  history.push_back(Paused(2, 0, 1, 0.3));
  plan = policy->Next(history, 1);
  ASSERT_EQ(plan.promotions.size(), 1u);
  EXPECT_EQ(plan.promotions[0].number, 1);
  EXPECT_EQ(plan.promotions[0].rung, 1);
  EXPECT_EQ(plan.promotions[0].budget_epochs, 3);
  EXPECT_TRUE(plan.new_trials.empty());
  EXPECT_FALSE(plan.finished);
}

TEST(AshaPolicy, ATrialOutsideTheTopIsNotPromotedEvenIfTheTopMovedOn) {
  auto policy = Make("{kind: asha, max_trials: 30, max_epochs: 9}");
  // Six finished rung 0: the top two (0.9, 0.8) already moved on; 0.7 ranks third.
  std::vector<TrialRecord> history = {MovedOn(0, 0, 1, 0.9, TrialState::kRunning),
                                      MovedOn(1, 0, 1, 0.8, TrialState::kPaused),
                                      Paused(2, 0, 1, 0.7),
                                      Paused(3, 0, 1, 0.1),
                                      Paused(4, 0, 1, 0.2),
                                      Paused(5, 0, 1, 0.3)};
  history[1].value = 0.85;  // waiting at rung 1 with one finisher: no quota there yet
  Plan plan = policy->Next(history, 1);
  EXPECT_TRUE(plan.promotions.empty());
  ASSERT_EQ(plan.new_trials.size(), 1u);
  // A seventh finisher does not change floor(7/3) = 2 either; the ninth does.
  history.push_back(Paused(6, 0, 1, 0.05));
  history.push_back(Paused(7, 0, 1, 0.06));
  EXPECT_TRUE(policy->Next(history, 1).promotions.empty());
  history.push_back(Paused(8, 0, 1, 0.07));
  plan = policy->Next(history, 1);
  ASSERT_EQ(plan.promotions.size(), 1u);
  EXPECT_EQ(plan.promotions[0].number, 2);
}

TEST(AshaPolicy, PromotesFromTheHighestRungFirst) {
  auto policy = Make("{kind: asha, max_trials: 30, max_epochs: 9}");
  std::vector<TrialRecord> history;
  // Rung 1 (3 epochs): three finishers, trial 3 best and waiting.
  history.push_back(MovedOn(0, 0, 1, 0.9, TrialState::kPaused));
  history.push_back(MovedOn(1, 0, 1, 0.8, TrialState::kPaused));
  history.push_back(MovedOn(2, 0, 1, 0.7, TrialState::kPaused));
  history[0].value = 0.5;
  history[1].value = 0.95;
  history[2].value = 0.6;
  // Rung 0: nine more finishers so that rung 0 has a candidate too (12 finishers, quota 4).
  for (int i = 3; i < 12; ++i) history.push_back(Paused(i, 0, 1, 0.05 * (12 - i)));
  Plan plan = policy->Next(history, 2);
  ASSERT_EQ(plan.promotions.size(), 2u);
  EXPECT_EQ(plan.promotions[0].number, 1);  // rung 1 -> 2 (9 epochs, the last rung)
  EXPECT_EQ(plan.promotions[0].rung, 2);
  EXPECT_EQ(plan.promotions[0].budget_epochs, 9);
  EXPECT_EQ(plan.promotions[1].number, 3);  // then the best waiting at rung 0
  EXPECT_EQ(plan.promotions[1].rung, 1);
}

TEST(AshaPolicy, MinimizePromotesTheLowestValue) {
  StudySpec spec = MustParse(SpecYaml("{kind: asha, max_trials: 30, max_epochs: 9}"));
  spec.maximize = false;
  auto policy = AshaPolicy::Create(spec);
  ASSERT_TRUE(policy.ok());
  std::vector<TrialRecord> history = {Paused(0, 0, 1, 0.1), Paused(1, 0, 1, 0.5),
                                      Paused(2, 0, 1, 0.3)};
  Plan plan = (*policy)->Next(history, 1);
  ASSERT_EQ(plan.promotions.size(), 1u);
  EXPECT_EQ(plan.promotions[0].number, 0);
}

TEST(AshaPolicy, NothingWhenTheSchedulerHasNoRoom) {
  auto policy = Make("{kind: asha, max_trials: 30, max_epochs: 9}");
  std::vector<TrialRecord> history = {Paused(0, 0, 1, 0.1), Paused(1, 0, 1, 0.5),
                                      Paused(2, 0, 1, 0.3)};
  Plan plan = policy->Next(history, 0);
  EXPECT_TRUE(plan.promotions.empty());
  EXPECT_TRUE(plan.new_trials.empty());
  EXPECT_TRUE(plan.prunes.empty());
  EXPECT_FALSE(plan.finished);
}

TEST(AshaPolicy, EndsByPruningWhatWaitsOnceNothingCanMove) {
  auto policy = Make("{kind: asha, max_trials: 3, max_epochs: 9}");
  std::vector<TrialRecord> history = {MovedOn(0, 0, 1, 0.9, TrialState::kRunning),
                                      Paused(1, 0, 1, 0.5), Paused(2, 0, 1, 0.3)};
  Plan plan = policy->Next(history, 4);  // trial 0 runs: it may still lift others later
  EXPECT_TRUE(plan.new_trials.empty());
  EXPECT_TRUE(plan.prunes.empty());
  EXPECT_FALSE(plan.finished);
  history[0].state = TrialState::kPaused;
  history[0].value = 0.91;
  plan = policy->Next(history, 0);  // even without room: nothing is left to hand out
  EXPECT_EQ(plan.prunes, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(plan.finished);
}

TEST(AshaPolicy, MayPromoteBelowTheBracketsLastRung) {
  auto policy = Make("{kind: asha, max_trials: 10, max_epochs: 9, brackets: 2}");
  TrialRecord trial;
  trial.bracket = 0;
  trial.rung = 1;
  EXPECT_TRUE(policy->MayPromote(trial));
  trial.rung = 2;
  EXPECT_FALSE(policy->MayPromote(trial));
  trial.bracket = 1;  // rungs {3, 9}
  trial.rung = 1;
  EXPECT_FALSE(policy->MayPromote(trial));
  trial.bracket = -1;
  EXPECT_FALSE(policy->MayPromote(trial));
}

TEST(AshaPolicy, BracketsTakeNewConfigurationsInTurn) {
  auto policy = Make("{kind: asha, max_trials: 10, min_epochs: 1, max_epochs: 27, brackets: 3}");
  Plan plan = policy->Next({}, 4);
  ASSERT_EQ(plan.new_trials.size(), 4u);
  EXPECT_EQ(plan.new_trials[0].bracket, 0);
  EXPECT_EQ(plan.new_trials[0].budget_epochs, 1);
  EXPECT_EQ(plan.new_trials[1].bracket, 1);
  EXPECT_EQ(plan.new_trials[1].budget_epochs, 3);
  EXPECT_EQ(plan.new_trials[2].bracket, 2);
  EXPECT_EQ(plan.new_trials[2].budget_epochs, 9);
  EXPECT_EQ(plan.new_trials[3].bracket, 0);
}

TEST(AshaPolicy, NewConfigurationsAreTheRandomSamplersDraws) {
  auto policy = Make("{kind: asha, max_trials: 10, max_epochs: 9}", 11);
  Plan plan = policy->Next({}, 3);
  const StudySpec spec = MustParse(SpecYaml("{kind: asha, max_trials: 10, max_epochs: 9}", 11));
  for (int k = 0; k < 3; ++k) {
    std::mt19937_64 rng = TrialRng(11, k);
    EXPECT_EQ(plan.new_trials[k].params, SampleParams(spec.space, rng)) << k;
  }
}

TEST(AshaPolicy, TpeLearnsFromTheLargestRungWithEnoughValues) {
  const StudySpec spec = MustParse(SpecYaml(
      "{kind: asha, max_trials: 30, max_epochs: 9}\nsampler: {kind: tpe, n_startup_trials: 3}", 4));
  auto policy = AshaPolicy::Create(spec);
  ASSERT_TRUE(policy.ok()) << policy.status();
  std::vector<TrialRecord> history;
  for (int k = 0; k < 4; ++k) {
    std::mt19937_64 rng = TrialRng(4, k);
    history.push_back(Paused(k, 0, 1, 0.1 * k));
    history.back().params = SampleParams(spec.space, rng);
  }
  // Trial 3 moved on and finished rung 1 (3 epochs): one value at 3 epochs is not enough, so
  // TPE learns from the four values at 1 epoch.
  history[3].rung = 1;
  history[3].budget_epochs = 3;
  history[3].value = 0.9;
  history[3].intermediate[3] = 0.9;
  std::vector<Observation> at_one_epoch;
  for (const TrialRecord& trial : history) {
    at_one_epoch.push_back({trial.params, trial.intermediate.at(1), false});
  }
  // Trial 3 is the only one in the top third of rung 0, and it already moved on.
  Plan plan = (*policy)->Next(history, 1);
  ASSERT_EQ(plan.new_trials.size(), 1u);
  std::mt19937_64 rng = TrialRng(4, 4);
  EXPECT_EQ(plan.new_trials[0].params,
            TpeSample(spec.space, spec.sampler, true, at_one_epoch, rng));
  std::mt19937_64 random = TrialRng(4, 4);
  EXPECT_NE(plan.new_trials[0].params, SampleParams(spec.space, random));
}

// Workers of different speeds (worker w takes (w + 1) time units per epoch) ask for a job
// whenever they are free, as the scheduler's AcquireTrial does.
struct Event {
  double time;
  int worker;
  int64_t number;
  bool operator>(const Event& other) const {
    return time != other.time ? time > other.time : worker > other.worker;
  }
};

struct RunLog {
  std::vector<std::string> jobs;  // "new 3" / "promote 3 to 1", in hand-out order
  std::vector<TrialRecord> history;
  int idle_asks = 0;  // asks answered with nothing while work remained
  int64_t started_before_first_promotion = -1;
};

RunLog RunAsha(const AshaPolicy& policy, int workers) {
  RunLog log;
  std::vector<TrialRecord>& history = log.history;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
  std::vector<int> free_workers;
  for (int w = 0; w < workers; ++w) free_workers.push_back(w);
  double now = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    // Every free worker asks for one job.
    std::vector<int> still_free;
    for (int w : free_workers) {
      Plan plan = policy.Next(history, 1);
      for (int64_t number : plan.prunes) history[number].state = TrialState::kPruned;
      int64_t number = -1;
      if (!plan.promotions.empty()) {
        const Promotion& p = plan.promotions[0];
        TrialRecord& trial = history[p.number];
        EXPECT_EQ(trial.state, TrialState::kPaused);
        trial.rung = p.rung;
        trial.budget_epochs = p.budget_epochs;
        number = p.number;
        log.jobs.push_back("promote " + std::to_string(number) + " to " + std::to_string(p.rung));
        if (log.started_before_first_promotion < 0) {
          log.started_before_first_promotion = static_cast<int64_t>(history.size());
        }
      } else if (!plan.new_trials.empty()) {
        TrialRecord trial;
        trial.number = number = static_cast<int64_t>(history.size());
        trial.params = plan.new_trials[0].params;
        trial.bracket = plan.new_trials[0].bracket;
        trial.budget_epochs = plan.new_trials[0].budget_epochs;
        history.push_back(trial);
        log.jobs.push_back("new " + std::to_string(number));
      }
      if (number < 0) {
        if (!events.empty() && history.size() < static_cast<size_t>(policy.PlannedTrials())) {
          ++log.idle_asks;
        }
        still_free.push_back(w);
        continue;
      }
      TrialRecord& trial = history[number];
      const int start = trial.intermediate.empty() ? 0 : trial.intermediate.rbegin()->first;
      trial.state = TrialState::kRunning;
      events.push({now + (w + 1) * (trial.budget_epochs - start), w, number});
    }
    free_workers = still_free;
    if (events.empty()) return log;
    const Event done = events.top();
    events.pop();
    now = done.time;
    TrialRecord& trial = history[done.number];
    for (int e = 1; e <= trial.budget_epochs; ++e) trial.intermediate[e] = Score(trial.params, e);
    trial.value = Score(trial.params, trial.budget_epochs);
    trial.state = policy.MayPromote(trial) ? TrialState::kPaused : TrialState::kCompleted;
    free_workers.push_back(done.worker);
  }
  ADD_FAILURE() << "did not finish";
  return log;
}

TEST(AshaPolicy, UnevenWorkersAreNeverIdleAndEveryTrialEnds) {
  auto policy = Make("{kind: asha, max_trials: 40, max_epochs: 27}");
  RunLog log = RunAsha(*policy, 4);
  EXPECT_EQ(log.idle_asks, 0);
  ASSERT_EQ(log.history.size(), 40u);
  // Promotions start long before the last configuration is started.
  EXPECT_GT(log.started_before_first_promotion, 0);
  EXPECT_LT(log.started_before_first_promotion, 10);
  std::map<int, int> reached;  // rung -> trials that got there
  for (const TrialRecord& trial : log.history) {
    EXPECT_TRUE(trial.state == TrialState::kCompleted || trial.state == TrialState::kPruned)
        << trial.number;
    EXPECT_EQ(trial.state == TrialState::kCompleted, trial.budget_epochs == 27) << trial.number;
    for (int k = 0; k <= trial.rung; ++k) reached[k]++;
  }
  EXPECT_EQ(reached[0], 40);
  // Each rung holds fewer trials than the one below, and some reach R. (Not at most a third:
  // a late, better finisher is promoted on top of those promoted before it came, as in the
  // paper.)
  for (int k = 1; k <= 3; ++k) {
    EXPECT_LT(reached[k], reached[k - 1]) << k;
    EXPECT_GE(reached[k], 1) << k;
  }
  EXPECT_LE(reached[3], reached[0] / 9);
}

TEST(AshaPolicy, SameSeedSameJobSequence) {
  auto policy = Make("{kind: asha, max_trials: 12, max_epochs: 9}", 5);
  RunLog first = RunAsha(*policy, 3);
  RunLog second = RunAsha(*policy, 3);
  EXPECT_EQ(first.jobs, second.jobs);
  for (size_t i = 0; i < first.history.size(); ++i) {
    EXPECT_EQ(first.history[i].params, second.history[i].params);
  }
  // Pinned: the order of jobs for this seed, three workers of speeds 1, 2, 3. Trial 0 moves
  // up as soon as three trials finished rung 0, while trials 5..11 are still to start.
  const std::vector<std::string> expected = {
      "new 0",          "new 1",         "new 2",  "new 3",          "new 4",
      "promote 0 to 1", "new 5",         "new 6",  "promote 1 to 1", "new 7",
      "new 8",          "new 9",         "new 10", "promote 3 to 1", "new 11",
      "promote 0 to 2", "promote 2 to 1"};
  EXPECT_EQ(first.jobs, expected);
}

}  // namespace
}  // namespace tuner::search
