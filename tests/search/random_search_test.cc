#include "search/random_search.h"

#include <set>

#include "gtest/gtest.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using specs::MustParse;
using specs::SpecYaml;

std::unique_ptr<RandomSearch> Make(int max_trials, uint64_t seed) {
  auto policy = RandomSearch::Create(
      MustParse(SpecYaml("{kind: random, max_trials: " + std::to_string(max_trials) + "}", seed)));
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : nullptr;
}

// Plays the scheduler: asks for `batch` trials at a time until the policy stops giving any.
std::vector<Params> TrialsOf(const RandomSearch& policy, int batch) {
  std::vector<TrialRecord> history;
  for (int guard = 0; guard < 1000; ++guard) {
    Plan plan = policy.Next(history, batch);
    for (NewTrial& trial : plan.new_trials) {
      TrialRecord record;
      record.number = static_cast<int64_t>(history.size());
      record.params = trial.params;
      record.state = TrialState::kCompleted;
      record.budget_epochs = trial.budget_epochs;
      history.push_back(record);
    }
    if (plan.finished) break;
  }
  std::vector<Params> params;
  for (const TrialRecord& record : history) params.push_back(record.params);
  return params;
}

TEST(RandomSearch, SameSeedGivesTheSameSequence) {
  EXPECT_EQ(TrialsOf(*Make(20, 42), 20), TrialsOf(*Make(20, 42), 20));
}

TEST(RandomSearch, DifferentSeedGivesADifferentSequence) {
  EXPECT_NE(TrialsOf(*Make(20, 42), 20), TrialsOf(*Make(20, 43), 20));
}

TEST(RandomSearch, SequenceDoesNotDependOnBatching) {
  const std::vector<Params> all_at_once = TrialsOf(*Make(25, 7), 100);
  ASSERT_EQ(all_at_once.size(), 25u);
  EXPECT_EQ(TrialsOf(*Make(25, 7), 1), all_at_once);
  EXPECT_EQ(TrialsOf(*Make(25, 7), 4), all_at_once);
}

TEST(RandomSearch, CreatesExactlyMaxTrialsThenFinishes) {
  std::unique_ptr<RandomSearch> policy = Make(10, 1);
  EXPECT_EQ(policy->PlannedTrials(), 10);
  std::vector<TrialRecord> history(8);
  Plan plan = policy->Next(history, 5);
  EXPECT_EQ(plan.new_trials.size(), 2u);
  history.resize(10);
  plan = policy->Next(history, 5);
  EXPECT_TRUE(plan.new_trials.empty());
  EXPECT_TRUE(plan.finished);
}

TEST(RandomSearch, NothingNewWhenTheSchedulerHasNoRoom) {
  std::unique_ptr<RandomSearch> policy = Make(10, 1);
  Plan plan = policy->Next({}, 0);
  EXPECT_TRUE(plan.new_trials.empty());
  EXPECT_FALSE(plan.finished);
}

TEST(RandomSearch, TrialsTrainTheTrainerEpochsAndAreNeverPromoted) {
  std::unique_ptr<RandomSearch> policy = Make(3, 1);
  Plan plan = policy->Next({}, 3);
  ASSERT_EQ(plan.new_trials.size(), 3u);
  for (const NewTrial& trial : plan.new_trials) {
    EXPECT_EQ(trial.budget_epochs, 5);
    EXPECT_EQ(trial.bracket, -1);
    EXPECT_EQ(trial.rung, 0);
    EXPECT_EQ(trial.params.size(), 4u);
  }
  EXPECT_FALSE(policy->MayPromote(TrialRecord{}));
}

TEST(RandomSearch, ParamsVaryAcrossTrials) {
  std::set<std::string> learning_rates;
  for (const Params& params : TrialsOf(*Make(30, 3), 30)) {
    learning_rates.insert(ParamValueToString(params.at("learning_rate")));
  }
  EXPECT_EQ(learning_rates.size(), 30u);
}

}  // namespace
}  // namespace tuner::search
