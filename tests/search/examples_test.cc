// The shipped example specs stay valid as the parser evolves.
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "search/policy.h"
#include "search/study_spec.h"

namespace tuner::search {
namespace {

std::string ReadExample(const std::string& name) {
  std::ifstream in(std::string(TUNER_SOURCE_DIR) + "/examples/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<StudySpec> ParseExample(const std::string& name) {
  return ParseStudySpec(ReadExample(name));
}

TEST(Examples, Cifar10SpecIsRandomWithTwoExecutionsOnTorch) {
  absl::StatusOr<StudySpec> spec = ParseExample("seed000-cifar10.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->algorithm, Algorithm::kRandom);
  EXPECT_EQ(spec->max_trials, 10);
  EXPECT_EQ(spec->executions_per_trial, 2);
  EXPECT_EQ(spec->trainer_kind, "torch");
  EXPECT_EQ(spec->epochs, 20);
}

TEST(Examples, SyntheticSpecsParseAndPlanTheExpectedTrials) {
  const std::pair<const char*, int64_t> examples[] = {{"synthetic-random.yaml", 20},
                                                      {"synthetic-grid.yaml", 24},
                                                      {"synthetic-hyperband.yaml", 143},
                                                      {"synthetic-asha.yaml", 40},
                                                      {"synthetic-tpe-median.yaml", 30},
                                                      {"synthetic-bohb.yaml", 2 * 49},
                                                      {"synthetic-gp.yaml", 30}};
  for (const auto& [name, planned] : examples) {
    absl::StatusOr<StudySpec> spec = ParseExample(name);
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    EXPECT_EQ(spec->trainer_kind, "synthetic") << name;
    absl::StatusOr<std::unique_ptr<SearchPolicy>> policy = MakePolicy(*spec);
    ASSERT_TRUE(policy.ok()) << name << ": " << policy.status();
    EXPECT_EQ((*policy)->PlannedTrials(), planned) << name;
  }
}

TEST(Examples, AshaAndTpeMedianSpecsUseTheirSettings) {
  absl::StatusOr<StudySpec> asha = ParseExample("synthetic-asha.yaml");
  ASSERT_TRUE(asha.ok()) << asha.status();
  EXPECT_EQ(asha->algorithm, Algorithm::kAsha);
  EXPECT_EQ(asha->asha.max_epochs, 27);
  absl::StatusOr<StudySpec> tpe = ParseExample("synthetic-tpe-median.yaml");
  ASSERT_TRUE(tpe.ok()) << tpe.status();
  EXPECT_EQ(tpe->sampler.kind, SamplerKind::kTpe);
  EXPECT_EQ(tpe->pruner.kind, PrunerKind::kMedian);
  EXPECT_EQ(tpe->pruner.n_warmup_epochs, 3);
  absl::StatusOr<StudySpec> bohb = ParseExample("synthetic-bohb.yaml");
  ASSERT_TRUE(bohb.ok()) << bohb.status();
  EXPECT_EQ(bohb->algorithm, Algorithm::kHyperband);
  EXPECT_EQ(bohb->sampler.kind, SamplerKind::kTpe);
  absl::StatusOr<StudySpec> gp = ParseExample("synthetic-gp.yaml");
  ASSERT_TRUE(gp.ok()) << gp.status();
  EXPECT_EQ(gp->sampler.kind, SamplerKind::kGp);
}

}  // namespace
}  // namespace tuner::search
