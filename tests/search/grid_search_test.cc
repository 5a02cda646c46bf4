#include "search/grid_search.h"

#include <set>

#include "gtest/gtest.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using specs::MustParse;
using specs::SpecYaml;

constexpr char kGridSpace[] =
    "search_space:\n"
    "  units: {type: choice, values: [128, 256, 512]}\n"
    "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
    "  optimizer: {type: choice, values: [adam, rmsprop]}\n";

std::unique_ptr<GridSearch> Make(const std::string& space = kGridSpace) {
  auto policy = GridSearch::Create(MustParse(SpecYaml("{kind: grid}", 0, space)));
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : nullptr;
}

TEST(GridSearch, CountsEveryCombination) {
  std::unique_ptr<GridSearch> policy = Make();
  EXPECT_EQ(policy->PlannedTrials(), 3 * 4 * 2);
  Plan plan = policy->Next({}, 1000);
  ASSERT_EQ(plan.new_trials.size(), 24u);
  EXPECT_TRUE(plan.finished);
  std::set<Params> distinct;
  for (const NewTrial& trial : plan.new_trials) {
    distinct.insert(trial.params);
    EXPECT_EQ(trial.budget_epochs, 5);
  }
  EXPECT_EQ(distinct.size(), 24u);
}

TEST(GridSearch, FirstParamVariesSlowest) {
  std::unique_ptr<GridSearch> policy = Make();
  auto text = [&](int64_t k, const char* name) {
    return ParamValueToString(policy->Combination(k).at(name));
  };
  EXPECT_EQ(text(0, "units"), "128");
  EXPECT_EQ(text(0, "dropout"), "0.2");
  EXPECT_EQ(text(0, "optimizer"), "adam");
  EXPECT_EQ(text(1, "optimizer"), "rmsprop");
  EXPECT_EQ(text(1, "dropout"), "0.2");
  EXPECT_EQ(text(2, "dropout"), "0.3");
  EXPECT_EQ(text(7, "dropout"), "0.5");
  EXPECT_EQ(text(7, "units"), "128");
  EXPECT_EQ(text(8, "units"), "256");
  EXPECT_EQ(text(23, "units"), "512");
}

TEST(GridSearch, TrialKIsCombinationKWhateverTheBatching) {
  std::unique_ptr<GridSearch> policy = Make();
  std::vector<TrialRecord> history;
  while (true) {
    Plan plan = policy->Next(history, 5);
    for (NewTrial& trial : plan.new_trials) {
      TrialRecord record;
      record.number = static_cast<int64_t>(history.size());
      record.params = trial.params;
      record.state = TrialState::kCompleted;
      history.push_back(record);
    }
    if (plan.finished) break;
    ASSERT_LT(history.size(), 100u);
  }
  ASSERT_EQ(history.size(), 24u);
  for (const TrialRecord& record : history) {
    EXPECT_EQ(record.params, policy->Combination(record.number));
  }
}

TEST(GridSearch, IntRangeWithoutStepIsAFullGrid) {
  std::unique_ptr<GridSearch> policy = Make(
      "search_space:\n  layers: {type: int, min: 1, max: 4}\n"
      "  optimizer: {type: choice, values: [adam, rmsprop]}\n");
  EXPECT_EQ(policy->PlannedTrials(), 8);
}

TEST(GridSearch, RefusesAFloatRangeWithoutStep) {
  StudySpec spec = MustParse(SpecYaml("{kind: random, max_trials: 3}"));
  spec.algorithm = Algorithm::kGrid;
  auto policy = GridSearch::Create(spec);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(policy.status().message().find("search_space.learning_rate: grid search needs a step"),
            std::string::npos)
      << policy.status();
}

}  // namespace
}  // namespace tuner::search
