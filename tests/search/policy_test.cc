#include "search/policy.h"

#include "gtest/gtest.h"
#include "search/grid_search.h"
#include "search/hyperband.h"
#include "search/random_search.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using specs::MustParse;
using specs::SpecYaml;

TEST(MakePolicy, BuildsThePolicyTheSpecNames) {
  auto random = MakePolicy(MustParse(SpecYaml("{kind: random, max_trials: 7}")));
  ASSERT_TRUE(random.ok()) << random.status();
  EXPECT_NE(dynamic_cast<RandomSearch*>(random->get()), nullptr);
  EXPECT_EQ((*random)->PlannedTrials(), 7);

  auto grid = MakePolicy(MustParse(
      SpecYaml("{kind: grid}", 0, "search_space: {x: {type: choice, values: [1, 2, 3]}}\n")));
  ASSERT_TRUE(grid.ok()) << grid.status();
  EXPECT_NE(dynamic_cast<GridSearch*>(grid->get()), nullptr);
  EXPECT_EQ((*grid)->PlannedTrials(), 3);

  auto hyperband = MakePolicy(MustParse(SpecYaml("{kind: hyperband, max_epochs: 81, eta: 3}")));
  ASSERT_TRUE(hyperband.ok()) << hyperband.status();
  EXPECT_NE(dynamic_cast<HyperbandPolicy*>(hyperband->get()), nullptr);
  EXPECT_EQ((*hyperband)->PlannedTrials(), 143);
}

TEST(MakePolicy, RevalidatesASpecThatDidNotComeFromTheParser) {
  StudySpec spec = MustParse(SpecYaml("{kind: random, max_trials: 3}"));
  spec.algorithm = Algorithm::kGrid;  // learning_rate is a float range without step
  auto policy = MakePolicy(spec);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(policy.status().message().find("search_space.learning_rate"), std::string::npos);

  spec = MustParse(SpecYaml("{kind: random, max_trials: 3}"));
  spec.space.params[1].step = -0.1;
  policy = MakePolicy(spec);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(policy.status().message().find("search_space.dropout.step"), std::string::npos);

  spec = MustParse(SpecYaml("{kind: random, max_trials: 3}"));
  spec.space.params.clear();
  EXPECT_EQ(MakePolicy(spec).status().code(), absl::StatusCode::kInvalidArgument);

  spec = MustParse(SpecYaml("{kind: random, max_trials: 3}"));
  spec.max_trials = 0;
  EXPECT_EQ(MakePolicy(spec).status().code(), absl::StatusCode::kInvalidArgument);

  spec = MustParse(SpecYaml("{kind: hyperband, max_epochs: 9}"));
  spec.hyperband.eta = 1;
  policy = MakePolicy(spec);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(policy.status().message().find("algorithm.eta"), std::string::npos);
}

TEST(Better, FollowsTheDirection) {
  EXPECT_TRUE(Better(0.9, 0.8, /*maximize=*/true));
  EXPECT_FALSE(Better(0.9, 0.8, /*maximize=*/false));
}

}  // namespace
}  // namespace tuner::search
