// Enqueued configurations: CanonicalParams checks what a person gives, and the policies place
// it as the next trial (random, TPE, ASHA) or refuse (grid, Hyperband).
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search/policy.h"
#include "search/space.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using specs::MustParse;
using specs::SpecYaml;
using ::testing::HasSubstr;

// units: choice [128, 256, 512]; dropout: 0.2..0.5 step 0.1; optimizer: choice [adam,
// rmsprop]; learning_rate: 1e-4..1e-2 log.
const SearchSpace& Cifar() {
  static const SearchSpace space = MustParse(SpecYaml("{kind: random, max_trials: 5}")).space;
  return space;
}

Params Good() {
  return {{"units", int64_t{256}},
          {"dropout", 0.3},
          {"optimizer", std::string("adam")},
          {"learning_rate", 1e-3}};
}

void ExpectRefused(Params params, const std::string& field, const std::string& allowed) {
  absl::StatusOr<Params> out = CanonicalParams(Cifar(), params);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("params." + field + ":"));
  EXPECT_THAT(out.status().message(), HasSubstr(allowed));
}

TEST(CanonicalParams, ValuesTypedAsStringsBecomeTheParamsTypes) {
  absl::StatusOr<Params> out = CanonicalParams(Cifar(), {{"units", std::string("256")},
                                                         {"dropout", std::string("0.30")},
                                                         {"optimizer", std::string("adam")},
                                                         {"learning_rate", std::string("1e-3")}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["units"], ParamValue(int64_t{256}));
  EXPECT_EQ((*out)["dropout"], ParamValue(0.3));  // snapped to the grid point GridValues prints
  EXPECT_EQ((*out)["optimizer"], ParamValue(std::string("adam")));
  EXPECT_EQ((*out)["learning_rate"], ParamValue(1e-3));
}

TEST(CanonicalParams, AnIntForAFloatParamAndAnIntegralFloatForAnIntAreAccepted) {
  SearchSpace space = MustParse(SpecYaml("{kind: random, max_trials: 5}", 1,
                                         "search_space:\n"
                                         "  layers: {type: int, min: 1, max: 9, step: 2}\n"
                                         "  scale: {type: float, min: 0, max: 10}\n"))
                          .space;
  absl::StatusOr<Params> out = CanonicalParams(space, {{"layers", 5.0}, {"scale", int64_t{3}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["layers"], ParamValue(int64_t{5}));
  EXPECT_EQ((*out)["scale"], ParamValue(3.0));
  absl::StatusOr<Params> off = CanonicalParams(space, {{"layers", int64_t{4}}, {"scale", 1.0}});
  ASSERT_FALSE(off.ok());
  EXPECT_THAT(off.status().message(), HasSubstr("params.layers: must be an integer in [1, 9]"));
  EXPECT_THAT(off.status().message(), HasSubstr("(got 4)"));
}

TEST(CanonicalParams, EachKindOfBadValueNamesTheParamAndWhatIsAllowed) {
  Params unknown = Good();
  unknown["momentum"] = 0.9;
  ExpectRefused(unknown, "momentum", "not a param of this study");
  Params missing = Good();
  missing.erase("units");
  ExpectRefused(missing, "units", "missing; give one of 128, 256, 512");
  Params not_choice = Good();
  not_choice["optimizer"] = std::string("sgd");
  ExpectRefused(not_choice, "optimizer", "one of adam, rmsprop (got sgd)");
  Params off_grid = Good();
  off_grid["dropout"] = 0.25;
  ExpectRefused(off_grid, "dropout", "on the grid min + k * 0.1");
  Params out_of_range = Good();
  out_of_range["learning_rate"] = 0.5;
  ExpectRefused(out_of_range, "learning_rate", "a number in [0.0001, 0.01]");
  Params wrong_type = Good();
  wrong_type["learning_rate"] = std::string("fast");
  ExpectRefused(wrong_type, "learning_rate", "(got fast)");
  Params not_a_unit = Good();
  not_a_unit["units"] = int64_t{300};
  ExpectRefused(not_a_unit, "units", "one of 128, 256, 512");
}

std::unique_ptr<SearchPolicy> Policy(const std::string& algorithm) {
  auto policy = MakePolicy(MustParse(SpecYaml(algorithm)));
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : nullptr;
}

TrialRecord Record(int64_t number, const NewTrial& trial) {
  TrialRecord record;
  record.number = number;
  record.params = trial.params;
  record.bracket = trial.bracket;
  record.rung = trial.rung;
  record.budget_epochs = trial.budget_epochs;
  return record;
}

TEST(Enqueue, RandomPlacesTheParamsAsTheNextTrialAndKeepsTheOthersSequence) {
  std::unique_ptr<SearchPolicy> policy = Policy("{kind: random, max_trials: 4}");
  const Plan plain = policy->Next({}, 4);
  ASSERT_EQ(plain.new_trials.size(), 4u);

  std::vector<TrialRecord> history = {Record(0, plain.new_trials[0])};
  absl::StatusOr<NewTrial> enqueued = policy->Enqueue(history, Good());
  ASSERT_TRUE(enqueued.ok()) << enqueued.status();
  EXPECT_EQ(enqueued->params, Good());
  EXPECT_EQ(enqueued->bracket, -1);
  EXPECT_EQ(enqueued->budget_epochs, 5);
  history.push_back(Record(1, *enqueued));
  // Trials 2 and 3 are what they would have been: the enqueued trial replaced trial 1 only.
  const Plan after = policy->Next(history, 4);
  ASSERT_EQ(after.new_trials.size(), 2u);
  EXPECT_EQ(after.new_trials[0].params, plain.new_trials[2].params);
  EXPECT_EQ(after.new_trials[1].params, plain.new_trials[3].params);
  EXPECT_TRUE(after.finished);
}

TEST(Enqueue, RandomRefusesOnceMaxTrialsWereCreated) {
  std::unique_ptr<SearchPolicy> policy = Policy("{kind: random, max_trials: 1}");
  const Plan plan = policy->Next({}, 1);
  absl::StatusOr<NewTrial> enqueued = policy->Enqueue({Record(0, plan.new_trials[0])}, Good());
  ASSERT_FALSE(enqueued.ok());
  EXPECT_EQ(enqueued.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(enqueued.status().message(), HasSubstr("algorithm.max_trials: 1"));
}

TEST(Enqueue, TpeLearnsFromAnEnqueuedTrialOnceItFinished) {
  std::unique_ptr<SearchPolicy> policy =
      Policy("{kind: random, max_trials: 3}\nsampler: {kind: tpe, n_startup_trials: 1}");
  absl::StatusOr<NewTrial> enqueued = policy->Enqueue({}, Good());
  ASSERT_TRUE(enqueued.ok()) << enqueued.status();
  TrialRecord done = Record(0, *enqueued);
  done.state = TrialState::kCompleted;
  done.value = 0.9;
  // With one observation TPE's l(x) holds only the enqueued configuration: the sampled choice
  // params follow it far more often than not.
  const Plan plan = policy->Next({done}, 2);
  ASSERT_EQ(plan.new_trials.size(), 2u);
  int same_optimizer = 0;
  for (const NewTrial& trial : plan.new_trials) {
    same_optimizer += trial.params.at("optimizer") == ParamValue(std::string("adam"));
  }
  EXPECT_GE(same_optimizer, 1);
}

TEST(Enqueue, AshaPlacesTheParamsAtRungZeroOfTheNextBracket) {
  std::unique_ptr<SearchPolicy> policy =
      Policy("{kind: asha, max_trials: 3, min_epochs: 1, max_epochs: 9, eta: 3, brackets: 2}");
  const Plan first = policy->Next({}, 1);
  ASSERT_EQ(first.new_trials.size(), 1u);
  absl::StatusOr<NewTrial> enqueued = policy->Enqueue({Record(0, first.new_trials[0])}, Good());
  ASSERT_TRUE(enqueued.ok()) << enqueued.status();
  EXPECT_EQ(enqueued->bracket, 1);  // configuration 1 goes to bracket 1 % 2
  EXPECT_EQ(enqueued->rung, 0);
  EXPECT_EQ(enqueued->budget_epochs, 3);
  std::vector<TrialRecord> full(3);
  EXPECT_EQ(policy->Enqueue(full, Good()).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Enqueue, GridAndHyperbandRefuseWithTheAlgorithmsThatTakeIt) {
  for (const char* algorithm : {"{kind: grid}", "{kind: hyperband, max_epochs: 9}"}) {
    SCOPED_TRACE(algorithm);
    auto policy = MakePolicy(MustParse(SpecYaml(
        algorithm, 1, "search_space:\n  units: {type: choice, values: [128, 256, 512]}\n")));
    ASSERT_TRUE(policy.ok()) << policy.status();
    absl::StatusOr<NewTrial> enqueued = (*policy)->Enqueue({}, {{"units", int64_t{256}}});
    EXPECT_EQ(enqueued.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(enqueued.status().message(), HasSubstr("enqueue works with random and asha"));
  }
}

}  // namespace
}  // namespace tuner::search
