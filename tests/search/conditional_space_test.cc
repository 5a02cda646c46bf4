// Conditional params (`when: {parent: [values]}`): the spec's checks, and each policy creating
// a conditional param only where its condition holds.
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search/grid_search.h"
#include "search/policy.h"
#include "search/space.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using specs::MustParse;
using specs::SpecYaml;
using ::testing::HasSubstr;

// momentum exists only for sgd; nesterov only for sgd with momentum... of a choice parent.
std::string ConditionalSpace() {
  return "search_space:\n"
         "  optimizer: {type: choice, values: [adam, sgd]}\n"
         "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-1, log: true}\n"
         "  momentum: {type: float, min: 0.5, max: 0.9, step: 0.2, when: {optimizer: [sgd]}}\n"
         "  nesterov: {type: choice, values: [yes_, no_], when: {optimizer: sgd}}\n"
         "  beta1: {type: choice, values: [0.8, 0.9], when: {optimizer: [adam]}}\n";
}

void ExpectConditionsHold(const Params& params) {
  ASSERT_TRUE(params.count("optimizer"));
  EXPECT_TRUE(params.count("learning_rate"));
  const bool sgd = params.at("optimizer") == ParamValue(std::string("sgd"));
  EXPECT_EQ(params.count("momentum"), sgd ? 1u : 0u);
  EXPECT_EQ(params.count("nesterov"), sgd ? 1u : 0u);
  EXPECT_EQ(params.count("beta1"), sgd ? 0u : 1u);
}

absl::Status ParseError(const std::string& space) {
  return ParseStudySpec(SpecYaml("{kind: random, max_trials: 5}", 1, space)).status();
}

TEST(ConditionalSpace, ParsesWhenAndResolvesItsValuesToTheParents) {
  StudySpec spec = MustParse(SpecYaml("{kind: random, max_trials: 5}", 1,
                                      "search_space:\n"
                                      "  units: {type: choice, values: [128, 256]}\n"
                                      "  dropout: {type: float, min: 0, max: 0.5, "
                                      "when: {units: [256]}}\n"));
  ASSERT_TRUE(spec.space.params[1].when.has_value());
  EXPECT_EQ(spec.space.params[1].when->parent, "units");
  EXPECT_EQ(spec.space.params[1].when->values, std::vector<ParamValue>{int64_t{256}});
}

TEST(ConditionalSpace, BadConditionsNameTheFieldAndWhatIsAllowed) {
  const std::string head = "search_space:\n  optimizer: {type: choice, values: [adam, sgd]}\n";
  EXPECT_THAT(ParseError(head + "  m: {type: float, min: 0, max: 1, when: {optimiser: [sgd]}}\n")
                  .message(),
              HasSubstr("search_space.m.when: \"optimiser\" is not a param of the search space"));
  EXPECT_THAT(
      ParseError(head + "  lr: {type: float, min: 0, max: 1}\n"
                        "  m: {type: float, min: 0, max: 1, when: {lr: [1]}}\n")
          .message(),
      HasSubstr("search_space.m.when.lr: the parent of a condition must be a choice param"));
  EXPECT_THAT(ParseError(head + "  m: {type: float, min: 0, max: 1, when: {optimizer: [rmsprop]}}\n")
                  .message(),
              HasSubstr("search_space.m.when.optimizer: rmsprop is not a value of optimizer "
                        "(its values: adam, sgd)"));
  EXPECT_THAT(ParseError(head + "  m: {type: float, min: 0, max: 1, when: [optimizer]}\n").message(),
              HasSubstr("search_space.m.when: must be a mapping of one choice param"));
  const absl::Status cycle = ParseError(
      "search_space:\n"
      "  a: {type: choice, values: [x, y], when: {b: [x]}}\n"
      "  b: {type: choice, values: [x, y], when: {a: [x]}}\n");
  EXPECT_EQ(cycle.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cycle.message(), HasSubstr("search_space.a.when: conditions form a cycle (a -> b -> a)"));
  EXPECT_THAT(ParseError("search_space:\n  a: {type: choice, values: [x, y], when: {a: [x]}}\n")
                  .message(),
              HasSubstr("conditions form a cycle (a -> a)"));
}

TEST(ConditionalSpace, RandomSamplesAChildOnlyWhenItsConditionHolds) {
  auto policy = MakePolicy(MustParse(SpecYaml("{kind: random, max_trials: 200}", 3,
                                              ConditionalSpace())));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const Plan plan = (*policy)->Next({}, 200);
  ASSERT_EQ(plan.new_trials.size(), 200u);
  int sgd = 0;
  for (const NewTrial& trial : plan.new_trials) {
    ExpectConditionsHold(trial.params);
    sgd += trial.params.at("optimizer") == ParamValue(std::string("sgd"));
  }
  EXPECT_GT(sgd, 60);
  EXPECT_LT(sgd, 140);
}

TEST(ConditionalSpace, AConditionDoesNotShiftTheOtherParamsDraws) {
  // The same space without conditions draws the same values for the params both have.
  std::string plain = ConditionalSpace();
  for (const char* when : {", when: {optimizer: [sgd]}", ", when: {optimizer: sgd}",
                           ", when: {optimizer: [adam]}"}) {
    for (size_t at; (at = plain.find(when)) != std::string::npos;) plain.erase(at, strlen(when));
  }
  std::mt19937_64 a = TrialRng(9, 4);
  std::mt19937_64 b = TrialRng(9, 4);
  const Params conditional = SampleParams(MustParse(SpecYaml("{kind: random, max_trials: 1}", 1,
                                                             ConditionalSpace())).space, a);
  const Params full =
      SampleParams(MustParse(SpecYaml("{kind: random, max_trials: 1}", 1, plain)).space, b);
  EXPECT_EQ(full.size(), 5u);
  for (const auto& [name, value] : conditional) EXPECT_EQ(full.at(name), value) << name;
}

TEST(ConditionalSpace, TpeSamplesAChildOnlyWhenItsConditionHoldsAndLearnsItFromTrialsThatHaveIt) {
  auto policy = MakePolicy(MustParse(SpecYaml(
      "{kind: random, max_trials: 60}\nsampler: {kind: tpe, n_startup_trials: 10}", 5,
      ConditionalSpace())));
  ASSERT_TRUE(policy.ok()) << policy.status();
  std::vector<TrialRecord> history;
  // Best: sgd with momentum 0.9; adam trials have no momentum and are worse.
  for (int round = 0; round < 60; ++round) {
    const Plan plan = (*policy)->Next(history, 1);
    if (plan.new_trials.empty()) break;
    TrialRecord record;
    record.number = static_cast<int64_t>(history.size());
    record.params = plan.new_trials[0].params;
    ExpectConditionsHold(record.params);
    record.state = TrialState::kCompleted;
    auto momentum = record.params.find("momentum");
    record.value = momentum == record.params.end() ? 0.1 : std::get<double>(momentum->second);
    history.push_back(record);
  }
  ASSERT_EQ(history.size(), 60u);
  int late_sgd_high = 0;
  for (size_t i = 40; i < 60; ++i) {
    auto momentum = history[i].params.find("momentum");
    late_sgd_high += momentum != history[i].params.end() &&
                     std::get<double>(momentum->second) > 0.8;
  }
  EXPECT_GE(late_sgd_high, 10);  // of 20: TPE found the conditional param's best value
}

TEST(ConditionalSpace, GridEnumeratesAChildOnlyUnderItsParentsValuesOnce) {
  auto grid = GridSearch::Create(MustParse(SpecYaml(
      "{kind: grid}", 1,
      "search_space:\n"
      "  optimizer: {type: choice, values: [adam, sgd]}\n"
      "  momentum: {type: float, min: 0.5, max: 0.9, step: 0.2, when: {optimizer: [sgd]}}\n"
      "  units: {type: choice, values: [128, 256]}\n")));
  ASSERT_TRUE(grid.ok()) << grid.status();
  // adam x 2 units + sgd x 3 momenta x 2 units.
  ASSERT_EQ((*grid)->PlannedTrials(), 8);
  std::set<Params> seen;
  for (int64_t i = 0; i < 8; ++i) {
    const Params params = (*grid)->Combination(i);
    EXPECT_TRUE(seen.insert(params).second);
    const bool sgd = params.at("optimizer") == ParamValue(std::string("sgd"));
    EXPECT_EQ(params.count("momentum"), sgd ? 1u : 0u);
  }
  EXPECT_EQ((*grid)->Combination(0),
            (Params{{"optimizer", std::string("adam")}, {"units", int64_t{128}}}));
  const Plan plan = (*grid)->Next({}, 100);
  EXPECT_EQ(plan.new_trials.size(), 8u);
  EXPECT_TRUE(plan.finished);
}

TEST(ConditionalSpace, HyperbandAndAshaFollowTheConditions) {
  for (const char* algorithm :
       {"{kind: hyperband, max_epochs: 9}", "{kind: asha, max_trials: 40, max_epochs: 9}"}) {
    SCOPED_TRACE(algorithm);
    auto policy = MakePolicy(MustParse(SpecYaml(algorithm, 2, ConditionalSpace())));
    ASSERT_TRUE(policy.ok()) << policy.status();
    const Plan plan = (*policy)->Next({}, 40);
    ASSERT_FALSE(plan.new_trials.empty());
    for (const NewTrial& trial : plan.new_trials) ExpectConditionsHold(trial.params);
  }
}

TEST(ConditionalSpace, EnqueuedParamsMustMatchTheConditions) {
  const SearchSpace space =
      MustParse(SpecYaml("{kind: random, max_trials: 5}", 1, ConditionalSpace())).space;
  const Params adam = {{"optimizer", std::string("adam")},
                       {"learning_rate", 0.01},
                       {"beta1", std::string("0.9")}};
  absl::StatusOr<Params> ok = CanonicalParams(space, adam);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at("beta1"), ParamValue(0.9));

  Params extra = adam;
  extra["momentum"] = 0.7;
  absl::StatusOr<Params> refused = CanonicalParams(space, extra);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("params.momentum: only exists when optimizer is sgd"));

  const Params sgd = {{"optimizer", std::string("sgd")}, {"learning_rate", 0.01},
                      {"nesterov", std::string("yes_")}};
  refused = CanonicalParams(space, sgd);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("params.momentum: missing; give a number in [0.5, 0.9] on the grid min + "
                        "k * 0.2 (it exists when optimizer is sgd)"));
}

}  // namespace
}  // namespace tuner::search
