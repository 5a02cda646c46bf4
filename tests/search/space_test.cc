#include "search/space.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"

namespace tuner::search {
namespace {

ParamSpec Float(double min, double max, std::optional<double> step = std::nullopt,
                bool log = false) {
  ParamSpec spec;
  spec.name = "x";
  spec.kind = ParamKind::kFloat;
  spec.min = min;
  spec.max = max;
  spec.step = step;
  spec.log = log;
  return spec;
}

ParamSpec Int(double min, double max, std::optional<double> step = std::nullopt, bool log = false) {
  ParamSpec spec = Float(min, max, step, log);
  spec.kind = ParamKind::kInt;
  return spec;
}

std::vector<std::string> Printed(const std::vector<ParamValue>& values) {
  std::vector<std::string> out;
  for (const ParamValue& value : values) out.push_back(ParamValueToString(value));
  return out;
}

TEST(ParamValueToString, IntsPrintAsIntegers) {
  EXPECT_EQ(ParamValueToString(int64_t{128}), "128");
  EXPECT_EQ(ParamValueToString(int64_t{-3}), "-3");
}

TEST(ParamValueToString, FloatsPrintShortestRoundTrip) {
  EXPECT_EQ(ParamValueToString(0.3), "0.3");
  EXPECT_EQ(ParamValueToString(0.0001), "0.0001");
  EXPECT_EQ(ParamValueToString(1e-5), "1e-05");
  EXPECT_EQ(ParamValueToString(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(ParamValueToString(2.5e16), "2.5e+16");
  EXPECT_EQ(ParamValueToString(123456.75), "123456.75");
}

TEST(ParamValueToString, IntegralFloatsKeepAPointSoTheyDoNotReadAsInts) {
  EXPECT_EQ(ParamValueToString(1.0), "1.0");
  EXPECT_EQ(ParamValueToString(0.0), "0.0");
}

TEST(ParamValueToString, StringsPrintAsIs) {
  EXPECT_EQ(ParamValueToString(std::string("adam")), "adam");
}

TEST(GridValues, SteppedFloatRangeHasNoRoundingNoise) {
  const std::vector<ParamValue> values = GridValues(Float(0.2, 0.5, 0.1));
  ASSERT_EQ(values.size(), 4u);
  EXPECT_EQ(Printed(values), (std::vector<std::string>{"0.2", "0.3", "0.4", "0.5"}));
  EXPECT_EQ(std::get<double>(values[1]), 0.3);
  EXPECT_EQ(GridSize(Float(0.2, 0.5, 0.1)), 4);
}

TEST(GridValues, StepThatOvershootsMaxStopsBelowIt) {
  EXPECT_EQ(Printed(GridValues(Float(0.0, 1.0, 0.3))),
            (std::vector<std::string>{"0.0", "0.3", "0.6", "0.9"}));
}

TEST(GridValues, IntRangeWithoutStepIsEveryInteger) {
  const std::vector<ParamValue> values = GridValues(Int(1, 4));
  EXPECT_EQ(values, (std::vector<ParamValue>{int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}}));
}

TEST(GridValues, IntRangeWithStep) {
  EXPECT_EQ(GridValues(Int(32, 128, 32)),
            (std::vector<ParamValue>{int64_t{32}, int64_t{64}, int64_t{96}, int64_t{128}}));
  EXPECT_EQ(GridSize(Int(0, 10, 3)), 4);  // 0 3 6 9
}

TEST(GridValues, FloatRangeWithoutStepHasNoGrid) {
  EXPECT_TRUE(GridValues(Float(0, 1)).empty());
  EXPECT_EQ(GridSize(Float(0, 1)), 0);
}

TEST(GridValues, ChoiceIsItsValuesInOrder) {
  ParamSpec spec;
  spec.name = "optimizer";
  spec.kind = ParamKind::kChoice;
  spec.values = {std::string("adam"), std::string("rmsprop")};
  EXPECT_EQ(GridValues(spec), spec.values);
}

TEST(SampleParams, LogFloatStaysInRangeAndCoversDecades) {
  SearchSpace space{{Float(1e-4, 1e-2, std::nullopt, true)}};
  std::mt19937_64 rng(1);
  int below_1e3 = 0;
  for (int i = 0; i < 2000; ++i) {
    const double x = std::get<double>(SampleParams(space, rng).at("x"));
    ASSERT_GE(x, 1e-4);
    ASSERT_LE(x, 1e-2);
    if (x < 1e-3) ++below_1e3;
  }
  // Log-uniform: half the mass below the geometric midpoint 1e-3 (uniform would give ~9%).
  EXPECT_GT(below_1e3, 800);
  EXPECT_LT(below_1e3, 1200);
}

TEST(SampleParams, IntsStayIntsAndInRange) {
  SearchSpace space{{Int(1, 4), Int(2, 1024, std::nullopt, true)}};
  space.params[1].name = "y";
  std::mt19937_64 rng(2);
  std::set<int64_t> seen;
  for (int i = 0; i < 500; ++i) {
    const Params params = SampleParams(space, rng);
    ASSERT_TRUE(std::holds_alternative<int64_t>(params.at("x")));
    ASSERT_TRUE(std::holds_alternative<int64_t>(params.at("y")));
    const int64_t x = std::get<int64_t>(params.at("x"));
    const int64_t y = std::get<int64_t>(params.at("y"));
    ASSERT_GE(x, 1);
    ASSERT_LE(x, 4);
    ASSERT_GE(y, 2);
    ASSERT_LE(y, 1024);
    seen.insert(x);
  }
  EXPECT_EQ(seen.size(), 4u);
}

TEST(SampleParams, SteppedRangesSnapToTheGrid) {
  SearchSpace space{{Float(0.2, 0.5, 0.1)}};
  std::mt19937_64 rng(3);
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) seen.insert(ParamValueToString(SampleParams(space, rng).at("x")));
  EXPECT_EQ(seen, (std::set<std::string>{"0.2", "0.3", "0.4", "0.5"}));
}

TEST(SampleParams, ChoiceKeepsTheValueType) {
  ParamSpec units;
  units.name = "units";
  units.kind = ParamKind::kChoice;
  units.values = {int64_t{128}, int64_t{256}};
  SearchSpace space{{units}};
  std::mt19937_64 rng(4);
  EXPECT_TRUE(std::holds_alternative<int64_t>(SampleParams(space, rng).at("units")));
}

TEST(TrialRng, SameSeedAndNumberGiveTheSameStream) {
  std::mt19937_64 a = TrialRng(42, 7);
  std::mt19937_64 b = TrialRng(42, 7);
  EXPECT_EQ(a(), b());
  EXPECT_NE(TrialRng(42, 7)(), TrialRng(42, 8)());
  EXPECT_NE(TrialRng(42, 7)(), TrialRng(43, 7)());
}

TEST(ValidateParamSpec, RefusesBadRangesNamingTheField) {
  struct Case {
    ParamSpec spec;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Float(0.2, 0.5, -0.1), "search_space.x.step: must be > 0"},
      {Float(0.5, 0.2), "search_space.x.max: must be >= min"},
      {Float(0, 1, std::nullopt, true), "search_space.x.min: must be > 0 for a log range"},
      {Int(1.5, 4), "search_space.x.min: must be an integer"},
      {Int(1, 4, 0.5), "search_space.x.step: must be an integer >= 1"},
      {Float(1e-4, 1e-2, 1e-3, true), "search_space.x.step: cannot be combined with log"},
      {Float(0, 1, 1e-12), "search_space.x.step: too small"},
      {Float(0, NAN), "search_space.x.max: must be a finite number"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateParamSpec(c.spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_NE(status.message().find(c.message), std::string::npos) << status.message();
  }
}

TEST(ValidateParamSpec, RefusesBadChoicesAndNames) {
  ParamSpec spec;
  spec.name = "units";
  spec.kind = ParamKind::kChoice;
  EXPECT_NE(
      ValidateParamSpec(spec).message().find("search_space.units.values: must be a non-empty list"),
      std::string::npos);
  spec.values = {int64_t{1}, int64_t{1}};
  EXPECT_NE(ValidateParamSpec(spec).message().find("duplicate value 1"), std::string::npos);
  spec.values = {int64_t{1}};
  spec.name = "1units";
  EXPECT_EQ(ValidateParamSpec(spec).code(), absl::StatusCode::kInvalidArgument);
  spec.name = "units_1";
  EXPECT_TRUE(ValidateParamSpec(spec).ok());
}

}  // namespace
}  // namespace tuner::search
