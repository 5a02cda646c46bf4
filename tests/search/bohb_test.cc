// BOHB: model-based samplers inside Hyperband and ASHA learn from one budget at a time.
#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "search/hyperband.h"
#include "search/sampler.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

TrialRecord Finished(int64_t number, double x, int budget, std::map<int, double> values,
                     TrialState state = TrialState::kPaused) {
  TrialRecord t;
  t.number = number;
  t.params = {{"x", x}};
  t.state = state;
  t.budget_epochs = budget;
  t.intermediate = std::move(values);
  t.value = t.intermediate.count(budget) ? std::optional<double>(t.intermediate.at(budget))
                                         : std::nullopt;
  return t;
}

TEST(BudgetObservations, TheLargestRungWithEnoughValuesEachAtThatEpoch) {
  std::vector<TrialRecord> history;
  // Five trials stopped at rung epoch 1; three went on to 3 (their value at 1 still counts
  // there); one of those finished 9.
  for (int k = 0; k < 5; ++k) history.push_back(Finished(k, 0.1 * k, 1, {{1, 0.5 + k}}));
  for (int k = 5; k < 8; ++k) {
    history.push_back(Finished(k, 0.1 * k, 3, {{1, 1.0 * k}, {2, 0}, {3, 10.0 * k}}));
  }
  history.push_back(Finished(8, 0.8, 9, {{1, 8}, {3, 80}, {9, 800}}, TrialState::kCompleted));
  TrialRecord running = Finished(9, 0.9, 3, {{1, 9}});
  running.state = TrialState::kRunning;
  history.push_back(running);

  // Enough (3) at epoch 3: trials 5-7 at their value 3 and trial 8's intermediate at 3.
  std::vector<Observation> obs = BudgetObservations(history, {1, 3, 9}, 3);
  ASSERT_EQ(obs.size(), 5u);
  std::vector<double> values;
  for (size_t i = 0; i < 4; ++i) values.push_back(obs[i].value);
  EXPECT_EQ(values, (std::vector<double>{50, 60, 70, 80}));
  EXPECT_TRUE(obs[4].running);  // the running trial, for the liar
  // Asking for 6: only epoch 1 has them (all ten values but the running one's own rung).
  obs = BudgetObservations(history, {1, 3, 9}, 6);
  EXPECT_EQ(obs.size(), 11u);  // ten at epoch 1 (the running trial went past it) + the runner
  // Nothing has 20: no finished observation, random until then.
  obs = BudgetObservations(history, {1, 3, 9}, 20);
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_TRUE(obs[0].running);
}

TEST(Bohb, HyperbandWithTpeSamplesNewBracketsFromTheBestRungValues) {
  const StudySpec spec = specs::MustParse(
      "name: t\nalgorithm: {kind: hyperband, max_epochs: 9, eta: 3}\nseed: 4\n"
      "sampler: {kind: tpe, n_startup_trials: 5}\n"
      "search_space:\n  x: {type: float, min: 0.0, max: 1.0}\n"
      "trainer: {kind: synthetic, epochs: 9}\n");
  auto policy = HyperbandPolicy::Create(spec);
  ASSERT_TRUE(policy.ok()) << policy.status();
  std::vector<TrialRecord> history;
  // Bracket 0 (9 trials at 1 epoch): finished; values are best near x = 0.8.
  Plan first = (*policy)->Next(history, 9);
  ASSERT_EQ(first.new_trials.size(), 9u);
  for (size_t k = 0; k < first.new_trials.size(); ++k) {
    TrialRecord t;
    t.number = static_cast<int64_t>(k);
    t.params = first.new_trials[k].params;
    t.bracket = first.new_trials[k].bracket;
    t.budget_epochs = first.new_trials[k].budget_epochs;
    const double x = std::get<double>(t.params.at("x"));
    t.intermediate[t.budget_epochs] = -std::fabs(x - 0.8);
    t.value = t.intermediate[t.budget_epochs];
    t.state = TrialState::kPaused;
    history.push_back(t);
  }
  // The next plan decides rung 0 of bracket 0 and starts bracket 1 with TPE.
  Plan next = (*policy)->Next(history, 20);
  ASSERT_FALSE(next.new_trials.empty());
  double near = 0;
  for (const NewTrial& t : next.new_trials) near += std::fabs(std::get<double>(t.params.at("x")) - 0.8);
  near /= static_cast<double>(next.new_trials.size());
  EXPECT_LT(near, 0.2) << "new configurations should gather where rung values were best";
  // Not the random sampler's draws.
  std::mt19937_64 rng = TrialRng(spec.seed, static_cast<int64_t>(history.size()));
  EXPECT_NE(next.new_trials[0].params, SampleParams(spec.space, rng));
}

}  // namespace
}  // namespace tuner::search
