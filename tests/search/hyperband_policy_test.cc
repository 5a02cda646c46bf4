#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "search/hyperband.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using specs::MustParse;
using specs::SpecYaml;

std::unique_ptr<HyperbandPolicy> Make(const std::string& algorithm, uint64_t seed = 3) {
  return specs::MakePolicy<HyperbandPolicy>(algorithm, seed);
}

double Score(const Params& params, int epochs) { return specs::HashScore(params, epochs); }

// Plays the scheduler and the workers against a policy. Trials that `fail` names are FAILED
// instead of finishing.
class Simulation {
 public:
  explicit Simulation(const SearchPolicy& policy) : policy_(policy) {}

  // Applies one plan; returns it.
  Plan Advance(int max_new) {
    Plan plan = policy_.Next(history_, max_new);
    for (const Promotion& promotion : plan.promotions) {
      TrialRecord& trial = history_.at(promotion.number);
      EXPECT_EQ(trial.state, TrialState::kPaused) << promotion.number;
      trial.state = TrialState::kPending;
      trial.rung = promotion.rung;
      trial.budget_epochs = promotion.budget_epochs;
    }
    for (int64_t number : plan.prunes) {
      EXPECT_EQ(history_.at(number).state, TrialState::kPaused) << number;
      history_.at(number).state = TrialState::kPruned;
    }
    for (NewTrial& fresh : plan.new_trials) {
      TrialRecord trial;
      trial.number = static_cast<int64_t>(history_.size());
      trial.params = std::move(fresh.params);
      trial.bracket = fresh.bracket;
      trial.rung = fresh.rung;
      trial.budget_epochs = fresh.budget_epochs;
      history_.push_back(std::move(trial));
    }
    return plan;
  }

  // A worker trains the trial to its budget and reports.
  void Finish(int64_t number) {
    TrialRecord& trial = history_.at(number);
    if (fail_.count(number) > 0) {
      trial.state = TrialState::kFailed;
      return;
    }
    trial.value = Score(trial.params, trial.budget_epochs);
    trial.state = policy_.MayPromote(trial) ? TrialState::kPaused : TrialState::kCompleted;
  }

  // Unlimited workers: every pending trial runs at once. Returns the number of plans.
  int RunToEnd() {
    for (int round = 1; round < 1000; ++round) {
      if (Advance(100000).finished) return round;
      bool ran = false;
      for (TrialRecord& trial : history_) {
        if (trial.state != TrialState::kPending) continue;
        Finish(trial.number);
        ran = true;
      }
      if (!ran) {
        ADD_FAILURE() << "stuck: nothing to run and not finished";
        return round;
      }
    }
    ADD_FAILURE() << "did not finish";
    return 0;
  }

  // `workers` workers that finish their trials in a random order.
  void RunWithWorkers(int workers, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int step = 0; step < 100000; ++step) {
      std::vector<int64_t> running, pending;
      for (const TrialRecord& trial : history_) {
        if (trial.state == TrialState::kRunning) running.push_back(trial.number);
        if (trial.state == TrialState::kPending) pending.push_back(trial.number);
      }
      const int room = workers - static_cast<int>(running.size() + pending.size());
      if (Advance(std::max(room, 0)).finished) return;
      for (TrialRecord& trial : history_) {
        if (trial.state == TrialState::kPending && static_cast<int>(running.size()) < workers) {
          trial.state = TrialState::kRunning;
          running.push_back(trial.number);
        }
      }
      if (running.empty()) {
        ADD_FAILURE() << "stuck at step " << step;
        return;
      }
      Finish(running[rng() % running.size()]);
    }
    ADD_FAILURE() << "did not finish";
  }

  // bracket -> final budget_epochs -> how many trials stopped there.
  std::map<int, std::map<int, int>> FinalEpochs() const {
    std::map<int, std::map<int, int>> out;
    for (const TrialRecord& trial : history_) out[trial.bracket][trial.budget_epochs]++;
    return out;
  }

  std::vector<TrialRecord>& history() { return history_; }
  std::set<int64_t>& fail() { return fail_; }

 private:
  const SearchPolicy& policy_;
  std::vector<TrialRecord> history_;
  std::set<int64_t> fail_;
};

using Epochs = std::map<int, int>;

TEST(HyperbandPolicy, FullRunMatchesThePaperForR81Eta3) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 81, eta: 3}");
  Simulation sim(*policy);
  sim.RunToEnd();
  EXPECT_EQ(sim.history().size(), 143u);
  EXPECT_EQ(policy->PlannedTrials(), 143);
  const std::map<int, Epochs> final_epochs = sim.FinalEpochs();
  ASSERT_EQ(final_epochs.size(), 5u);
  EXPECT_EQ(final_epochs.at(0), (Epochs{{1, 54}, {3, 18}, {9, 6}, {27, 2}, {81, 1}}));
  EXPECT_EQ(final_epochs.at(1), (Epochs{{3, 23}, {9, 8}, {27, 2}, {81, 1}}));
  EXPECT_EQ(final_epochs.at(2), (Epochs{{9, 10}, {27, 4}, {81, 1}}));
  EXPECT_EQ(final_epochs.at(3), (Epochs{{27, 6}, {81, 2}}));
  EXPECT_EQ(final_epochs.at(4), (Epochs{{81, 5}}));
  for (const TrialRecord& trial : sim.history()) {
    // The configurations that reach R complete; every other one was pruned at its rung.
    EXPECT_EQ(trial.state, trial.budget_epochs == 81 ? TrialState::kCompleted : TrialState::kPruned)
        << trial.number;
  }
}

TEST(HyperbandPolicy, PromotesTheBestOfEachRung) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 81, eta: 3}");
  Simulation sim(*policy);
  sim.RunToEnd();
  // In bracket 0 the trial that reached R has the best rung-0 score of its 81 configurations.
  const TrialRecord* winner = nullptr;
  double best = -1;
  int64_t best_number = -1;
  for (const TrialRecord& trial : sim.history()) {
    if (trial.bracket != 0) continue;
    if (trial.budget_epochs == 81) winner = &trial;
    if (Score(trial.params, 1) > best) {
      best = Score(trial.params, 1);
      best_number = trial.number;
    }
  }
  ASSERT_NE(winner, nullptr);
  EXPECT_EQ(winner->number, best_number);
}

TEST(HyperbandPolicy, FewWorkersInAnyOrderGiveTheSameOutcome) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 81, eta: 3}");
  Simulation all_at_once(*policy);
  all_at_once.RunToEnd();
  for (uint64_t seed : {1, 2}) {
    Simulation sim(*policy);
    sim.RunWithWorkers(4, seed);
    ASSERT_EQ(sim.history().size(), all_at_once.history().size());
    for (size_t i = 0; i < sim.history().size(); ++i) {
      const TrialRecord& a = sim.history()[i];
      const TrialRecord& b = all_at_once.history()[i];
      EXPECT_EQ(a.params, b.params) << i;
      EXPECT_EQ(a.bracket, b.bracket) << i;
      EXPECT_EQ(a.budget_epochs, b.budget_epochs) << i;
      EXPECT_EQ(a.state, b.state) << i;
    }
  }
}

TEST(HyperbandPolicy, BracketsRunSideBySide) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 9, eta: 3}");
  // R = 9: brackets (9 at 1), (5 at 3), (3 at 9).
  Simulation sim(*policy);
  Plan plan = sim.Advance(11);
  ASSERT_EQ(plan.new_trials.size(), 11u);
  EXPECT_EQ(plan.new_trials[8].bracket, 0);
  EXPECT_EQ(plan.new_trials[8].budget_epochs, 1);
  EXPECT_EQ(plan.new_trials[9].bracket, 1);
  EXPECT_EQ(plan.new_trials[9].budget_epochs, 3);
  plan = sim.Advance(100);
  EXPECT_EQ(plan.new_trials.size(), 6u);  // 3 more of bracket 1, 3 of bracket 2
  EXPECT_FALSE(plan.finished);
  EXPECT_TRUE(sim.Advance(100).new_trials.empty());
}

TEST(HyperbandPolicy, RungWaitsForItsStragglers) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 9, eta: 3}");
  Simulation sim(*policy);
  sim.Advance(9);  // bracket 0 only
  for (int64_t n = 0; n < 8; ++n) sim.Finish(n);
  sim.history()[8].state = TrialState::kRunning;
  Plan plan = sim.Advance(2);
  EXPECT_TRUE(plan.promotions.empty());
  EXPECT_TRUE(plan.prunes.empty());
  EXPECT_EQ(plan.new_trials.size(), 2u);  // workers move on to bracket 1 meanwhile
  sim.Finish(8);
  plan = sim.Advance(0);
  EXPECT_EQ(plan.promotions.size(), 3u);
  EXPECT_EQ(plan.prunes.size(), 6u);
  for (const Promotion& promotion : plan.promotions) {
    EXPECT_EQ(promotion.rung, 1);
    EXPECT_EQ(promotion.budget_epochs, 3);
  }
  // Applied once; asking again decides nothing twice.
  plan = sim.Advance(0);
  EXPECT_TRUE(plan.promotions.empty());
  EXPECT_TRUE(plan.prunes.empty());
}

TEST(HyperbandPolicy, FailedTrialsAreNotPromotedAndTheBracketStillFinishes) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 9, eta: 3}");
  Simulation reference(*policy);
  reference.RunToEnd();
  // Fail two of the three rung-0 trials of bracket 0 that would have been promoted.
  std::vector<int64_t> promoted;
  for (const TrialRecord& trial : reference.history()) {
    if (trial.bracket == 0 && trial.budget_epochs > 1) promoted.push_back(trial.number);
  }
  ASSERT_EQ(promoted.size(), 3u);
  Simulation sim(*policy);
  sim.fail() = {promoted[0], promoted[1]};
  sim.RunToEnd();
  int at_rung1 = 0;
  for (const TrialRecord& trial : sim.history()) {
    if (trial.bracket != 0) continue;
    if (trial.number == promoted[0] || trial.number == promoted[1]) {
      EXPECT_EQ(trial.state, TrialState::kFailed);
      EXPECT_EQ(trial.rung, 0);
    }
    if (trial.rung >= 1) ++at_rung1;
  }
  EXPECT_EQ(at_rung1, 3);  // floor(9 / 3) still promoted from the 7 that finished
  EXPECT_EQ(sim.FinalEpochs().at(0).at(9), 1);
}

TEST(HyperbandPolicy, RungWhereEveryTrialFailedEndsTheBracket) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 9, eta: 3}");
  Simulation sim(*policy);
  for (int64_t n = 0; n < 9; ++n) sim.fail().insert(n);  // all of bracket 0's rung 0
  const int rounds = sim.RunToEnd();
  EXPECT_GT(rounds, 0);
  EXPECT_EQ(sim.history().size(), 17u);
  for (int64_t n = 0; n < 9; ++n) EXPECT_EQ(sim.history()[n].state, TrialState::kFailed);
  EXPECT_EQ(sim.FinalEpochs().at(1), (Epochs{{3, 4}, {9, 1}}));
}

TEST(HyperbandPolicy, FinishedOnlyWhenTheLastPlanLeavesNothingToDo) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 1}");
  Simulation sim(*policy);
  Plan plan = sim.Advance(0);
  EXPECT_FALSE(plan.finished);
  plan = sim.Advance(5);
  ASSERT_EQ(plan.new_trials.size(), 1u);
  EXPECT_FALSE(plan.finished);
  EXPECT_FALSE(policy->MayPromote(sim.history()[0]));
  sim.Finish(0);
  EXPECT_EQ(sim.history()[0].state, TrialState::kCompleted);
  EXPECT_TRUE(sim.Advance(5).finished);
}

TEST(HyperbandPolicy, MinimizePromotesTheLowestValues) {
  StudySpec spec = MustParse(SpecYaml("{kind: hyperband, max_epochs: 3, eta: 3}"));
  spec.maximize = false;
  std::unique_ptr<HyperbandPolicy> policy = *HyperbandPolicy::Create(spec);
  // R = 3: bracket 0 is 3 trials at 1 epoch, the best one goes on to 3 epochs.
  Simulation sim(*policy);
  sim.Advance(3);
  const std::vector<double> values = {0.5, 0.2, 0.2};  // a tie: the lower number wins
  for (int64_t n = 0; n < 3; ++n) {
    sim.history()[n].value = values[n];
    sim.history()[n].state = TrialState::kPaused;
  }
  Plan plan = sim.Advance(0);
  ASSERT_EQ(plan.promotions.size(), 1u);
  EXPECT_EQ(plan.promotions[0].number, 1);
  EXPECT_EQ(plan.promotions[0].budget_epochs, 3);
  EXPECT_EQ(plan.prunes, (std::vector<int64_t>{0, 2}));
}

TEST(HyperbandPolicy, MayPromoteBelowTheBracketsLastRung) {
  std::unique_ptr<HyperbandPolicy> policy =
      Make("{kind: hyperband, max_epochs: 81, eta: 3, iterations: 2}");
  TrialRecord trial;
  trial.bracket = 0;  // s = 4
  trial.rung = 3;
  EXPECT_TRUE(policy->MayPromote(trial));
  trial.rung = 4;
  EXPECT_FALSE(policy->MayPromote(trial));
  trial.bracket = 4;  // s = 0
  trial.rung = 0;
  EXPECT_FALSE(policy->MayPromote(trial));
  trial.bracket = 5;  // second iteration, s = 4 again
  EXPECT_TRUE(policy->MayPromote(trial));
  trial.bracket = -1;
  EXPECT_FALSE(policy->MayPromote(trial));
}

TEST(HyperbandPolicy, IterationsRepeatTheBrackets) {
  std::unique_ptr<HyperbandPolicy> policy =
      Make("{kind: hyperband, max_epochs: 81, eta: 3, iterations: 2}");
  EXPECT_EQ(policy->PlannedTrials(), 286);
  Simulation sim(*policy);
  sim.RunToEnd();
  ASSERT_EQ(sim.history().size(), 286u);
  const std::map<int, Epochs> final_epochs = sim.FinalEpochs();
  ASSERT_EQ(final_epochs.size(), 10u);
  EXPECT_EQ(final_epochs.at(5), final_epochs.at(0));
  EXPECT_EQ(final_epochs.at(9), (Epochs{{81, 5}}));
}

TEST(HyperbandPolicy, SameSeedSameTrialsWhateverTheBatching) {
  std::unique_ptr<HyperbandPolicy> policy = Make("{kind: hyperband, max_epochs: 27, eta: 3}", 11);
  Simulation all(*policy);
  all.Advance(1000);
  Simulation one_by_one(*policy);
  while (!one_by_one.Advance(1).new_trials.empty()) {
  }
  ASSERT_EQ(one_by_one.history().size(), all.history().size());
  for (size_t i = 0; i < all.history().size(); ++i) {
    EXPECT_EQ(one_by_one.history()[i].params, all.history()[i].params);
  }
}

}  // namespace
}  // namespace tuner::search
