#include <vector>

#include "gtest/gtest.h"
#include "search/hyperband.h"

namespace tuner::search {
namespace {

using Ints = std::vector<int>;

TEST(HyperbandSchedule, MatchesThePaperForR81Eta3) {
  const std::vector<BracketSchedule> brackets = HyperbandSchedule(81, 3);
  ASSERT_EQ(brackets.size(), 5u);
  // Li et al. 2018, Table 1.
  EXPECT_EQ(brackets[0].s, 4);
  EXPECT_EQ(brackets[0].trials, (Ints{81, 27, 9, 3, 1}));
  EXPECT_EQ(brackets[0].epochs, (Ints{1, 3, 9, 27, 81}));
  EXPECT_EQ(brackets[1].s, 3);
  EXPECT_EQ(brackets[1].trials, (Ints{34, 11, 3, 1}));
  EXPECT_EQ(brackets[1].epochs, (Ints{3, 9, 27, 81}));
  EXPECT_EQ(brackets[2].trials, (Ints{15, 5, 1}));
  EXPECT_EQ(brackets[2].epochs, (Ints{9, 27, 81}));
  EXPECT_EQ(brackets[3].trials, (Ints{8, 2}));
  EXPECT_EQ(brackets[3].epochs, (Ints{27, 81}));
  EXPECT_EQ(brackets[4].s, 0);
  EXPECT_EQ(brackets[4].trials, (Ints{5}));
  EXPECT_EQ(brackets[4].epochs, (Ints{81}));
  int total = 0;
  for (const BracketSchedule& bracket : brackets) total += bracket.trials[0];
  EXPECT_EQ(total, 143);
}

TEST(HyperbandSchedule, R27Eta3) {
  const std::vector<BracketSchedule> brackets = HyperbandSchedule(27, 3);
  ASSERT_EQ(brackets.size(), 4u);
  EXPECT_EQ(brackets[0].trials, (Ints{27, 9, 3, 1}));
  EXPECT_EQ(brackets[0].epochs, (Ints{1, 3, 9, 27}));
  EXPECT_EQ(brackets[1].trials, (Ints{12, 4, 1}));
  EXPECT_EQ(brackets[1].epochs, (Ints{3, 9, 27}));
  EXPECT_EQ(brackets[2].trials, (Ints{6, 2}));
  EXPECT_EQ(brackets[2].epochs, (Ints{9, 27}));
  EXPECT_EQ(brackets[3].trials, (Ints{4}));
  EXPECT_EQ(brackets[3].epochs, (Ints{27}));
}

TEST(HyperbandSchedule, R1IsOneTrialOfOneEpoch) {
  const std::vector<BracketSchedule> brackets = HyperbandSchedule(1, 3);
  ASSERT_EQ(brackets.size(), 1u);
  EXPECT_EQ(brackets[0].s, 0);
  EXPECT_EQ(brackets[0].trials, (Ints{1}));
  EXPECT_EQ(brackets[0].epochs, (Ints{1}));
}

TEST(HyperbandSchedule, ExactPowersDoNotLoseABracketToFloatingPoint) {
  // log(243) / log(3) is 4.999999999999999 in double arithmetic.
  EXPECT_EQ(HyperbandSchedule(243, 3).size(), 6u);
  EXPECT_EQ(HyperbandSchedule(1000, 10).size(), 4u);
  EXPECT_EQ(HyperbandSchedule(242, 3).size(), 5u);
}

TEST(HyperbandSchedule, EpochsRoundToNearestAndEndExactlyAtR) {
  const std::vector<BracketSchedule> brackets = HyperbandSchedule(10, 3);
  ASSERT_EQ(brackets.size(), 3u);
  EXPECT_EQ(brackets[0].trials, (Ints{9, 3, 1}));
  EXPECT_EQ(brackets[0].epochs, (Ints{1, 3, 10}));  // 10/9 -> 1, 10/3 -> 3
  EXPECT_EQ(brackets[1].epochs, (Ints{3, 10}));
  EXPECT_EQ(brackets[2].epochs, (Ints{10}));
  for (int r : {1, 2, 5, 20, 100, 1000}) {
    for (int eta : {2, 3, 4}) {
      for (const BracketSchedule& bracket : HyperbandSchedule(r, eta)) {
        EXPECT_EQ(bracket.epochs.back(), r);
        EXPECT_GE(bracket.epochs.front(), 1);
        for (size_t i = 1; i < bracket.epochs.size(); ++i) {
          EXPECT_LE(bracket.epochs[i - 1], bracket.epochs[i]);
          EXPECT_EQ(bracket.trials[i], bracket.trials[i - 1] / eta);  // floor(n_i / eta)
        }
      }
    }
  }
}

TEST(HyperbandSchedule, InvalidArgumentsGiveNoBrackets) {
  EXPECT_TRUE(HyperbandSchedule(0, 3).empty());
  EXPECT_TRUE(HyperbandSchedule(81, 1).empty());
}

}  // namespace
}  // namespace tuner::search
