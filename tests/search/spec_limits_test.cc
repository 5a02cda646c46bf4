// The limits on a new study's spec (search/spec_limits.h, issue 13 row 9): refused before
// parsing with the limit and the spec's value named, every shipped example within them, and
// ParseStudySpec itself without limits so a stored larger spec still loads.
#include "search/spec_limits.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search/study_spec.h"

namespace tuner::search {
namespace {

using ::testing::HasSubstr;

std::string SpecWithParams(int params, const std::string& extra = "") {
  std::string spec = "name: many\nalgorithm: {kind: random, max_trials: 3}\n" + extra +
                     "trainer: {kind: synthetic}\nsearch_space:\n";
  for (int i = 0; i < params; ++i) {
    spec += "  p" + std::to_string(i) + ": {type: float, min: 0, max: 1}\n";
  }
  return spec;
}

TEST(SpecLimits, CountParamsCountsTheEntriesOfTheRootSearchSpaceOnly) {
  EXPECT_EQ(CountParams(SpecWithParams(3)), 3);
  EXPECT_EQ(CountParams("search_space: {a: {type: int, min: 0, max: 1}, b: {type: choice, "
                        "values: [x, y]}}\n"),
            2);
  // A search_space key below the root, and the fields of each param, are not params.
  EXPECT_EQ(CountParams("trainer: {search_space: {a: 1, b: 2}}\nsearch_space:\n"
                        "  a: {type: choice, values: [{search_space: 1}]}\n"),
            1);
  EXPECT_EQ(CountParams("search_space: [a, b]\n"), 0);
  EXPECT_EQ(CountParams("search_space: {a: [unclosed\n"), 0);  // ParseStudySpec says why
  EXPECT_EQ(CountParams(""), 0);
}

TEST(SpecLimits, EveryShippedExampleIsWithinTheLimitsAndCountedAsParsed) {
  int examples = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TUNER_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_TRUE(CheckSpecLimits(text.str()).ok()) << entry.path();
    absl::StatusOr<StudySpec> spec = ParseStudySpec(text.str());
    ASSERT_TRUE(spec.ok()) << entry.path() << ": " << spec.status();
    EXPECT_EQ(CountParams(text.str()), static_cast<int64_t>(spec->space.params.size()))
        << entry.path();
    ++examples;
  }
  EXPECT_GE(examples, 10);
}

TEST(SpecLimits, ATwentyThousandParamSpecIsRefusedFastNamingTheLimitAndTheCount) {
  const std::string spec = SpecWithParams(20000);
  ASSERT_LT(spec.size(), kMaxSpecBytes);  // the size limit alone lets it through
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = CheckSpecLimits(spec);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "search_space: has 20000 params, more than the limit of 1000");
  // Parsing it and building its policy took 3.9 s here (0.7 s since the duplicate checks use
  // a set); the count takes ~0.2 s in a Release build. The bound leaves room for sanitizers.
  EXPECT_LT(seconds, 2.0);
}

TEST(SpecLimits, TheParamLimitIsInclusive) {
  EXPECT_TRUE(CheckSpecLimits(SpecWithParams(kMaxParams)).ok());
  EXPECT_EQ(CheckSpecLimits(SpecWithParams(kMaxParams + 1)).message(),
            "search_space: has 1001 params, more than the limit of 1000");
}

TEST(SpecLimits, ASpecOverOneMebibyteIsRefusedNamingItsSize) {
  const std::string head = SpecWithParams(2);
  const std::string at_limit = head + "# " + std::string(kMaxSpecBytes - head.size() - 3, 'x') + "\n";
  ASSERT_EQ(at_limit.size(), kMaxSpecBytes);
  EXPECT_TRUE(CheckSpecLimits(at_limit).ok());
  const absl::Status status = CheckSpecLimits(at_limit + "#\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "spec_yaml: is 1048578 bytes, more than the limit of 1048576 (1 MiB)");
}

// The server loads stored specs with ParseStudySpec: it must take what a db made before the
// limits (or under larger ones) holds.
TEST(SpecLimits, ParseStudySpecHasNoLimitsSoAStoredLargerSpecLoads) {
  const std::string spec = SpecWithParams(1500, "# " + std::string(kMaxSpecBytes, 'x') + "\n");
  ASSERT_FALSE(CheckSpecLimits(spec).ok());
  absl::StatusOr<StudySpec> parsed = ParseStudySpec(spec);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->space.params.size(), 1500u);
}

}  // namespace
}  // namespace tuner::search
