#include "search/gp_sampler.h"

#include <cmath>
#include <functional>
#include <vector>

#include "gtest/gtest.h"
#include "search/tpe_sampler.h"
#include "tests/search/test_functions.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using Objective = std::function<double(const Params&)>;

using functions::Branin;
using functions::BraninSpace;
using functions::Number;


SamplerSpec Spec(SamplerKind kind) {
  SamplerSpec spec;
  spec.kind = kind;
  return spec;
}

// Best (lowest, or highest with maximize) value after `trials` sequential trials.
double BestOf(const SearchSpace& space, const Objective& f, SamplerKind kind, uint64_t seed,
              int trials, bool maximize = false, std::vector<Params>* sampled = nullptr) {
  const SamplerSpec spec = Spec(kind);
  std::vector<Observation> observations;
  double best = maximize ? -INFINITY : INFINITY;
  for (int k = 0; k < trials; ++k) {
    std::mt19937_64 rng = TrialRng(seed, k);
    Params params = SampleWith(spec, space, maximize, observations, rng);
    const double value = f(params);
    best = maximize ? std::max(best, value) : std::min(best, value);
    if (sampled) sampled->push_back(params);
    observations.push_back({std::move(params), value});
  }
  return best;
}

TEST(GpSampler, FindsBraninsMinimumWithinThirtyTrialsBetterThanTpeAndRandom) {
  double gp = 0, tpe = 0, random = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    gp += BestOf(BraninSpace(), Branin, SamplerKind::kGp, seed, 30) / 4;
    tpe += BestOf(BraninSpace(), Branin, SamplerKind::kTpe, seed, 30) / 4;
    random += BestOf(BraninSpace(), Branin, SamplerKind::kRandom, seed, 30) / 4;
  }
  std::printf("branin mean best of 4 seeds x 30 trials: gp %.4f tpe %.4f random %.4f\n", gp, tpe,
              random);
  EXPECT_LT(gp, 0.42);  // the minimum is 0.397887
  EXPECT_LT(gp, tpe);
  EXPECT_LT(gp, random);
}

TEST(GpSampler, MaximizeClimbsInsteadOfDescending) {
  const Objective negative = [](const Params& p) { return -Branin(p); };
  EXPECT_GT(BestOf(BraninSpace(), negative, SamplerKind::kGp, 2, 30, /*maximize=*/true), -0.45);
}

TEST(GpSampler, StartupTrialsAreTheRandomSamplersDrawsAndSameHistorySameParams) {
  std::vector<Params> gp, random, again;
  BestOf(BraninSpace(), Branin, SamplerKind::kGp, 5, 14, false, &gp);
  BestOf(BraninSpace(), Branin, SamplerKind::kRandom, 5, 14, false, &random);
  BestOf(BraninSpace(), Branin, SamplerKind::kGp, 5, 14, false, &again);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(gp[k], random[k]) << k;
  for (int k = 10; k < 14; ++k) EXPECT_NE(gp[k], random[k]) << k;
  EXPECT_EQ(gp, again);
}

TEST(GpSampler, ValuesStayInTheSpaceWithTheirTypesGridsAndConditions) {
  const StudySpec spec = specs::MustParse(specs::SpecYaml(
      "{kind: random, max_trials: 1}", 1,
      "search_space:\n"
      "  units: {type: choice, values: [128, 256, 512]}\n"
      "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
      "  optimizer: {type: choice, values: [adam, sgd]}\n"
      "  momentum: {type: float, min: 0.0, max: 0.99, when: {optimizer: [sgd]}}\n"
      "  layers: {type: int, min: 1, max: 4}\n"
      "  width: {type: int, min: 8, max: 512, log: true}\n"
      "  batch: {type: int, min: 16, max: 128, step: 16}\n"
      "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}\n"));
  const Objective f = [](const Params& p) {
    double v = std::pow(std::log10(Number(p.at("learning_rate"))) + 3, 2) +
               std::pow(Number(p.at("layers")) - 3, 2) + std::fabs(Number(p.at("dropout")) - 0.3);
    if (p.count("momentum")) v += std::pow(Number(p.at("momentum")) - 0.9, 2);
    return v;
  };
  std::vector<Params> sampled;
  BestOf(spec.space, f, SamplerKind::kGp, 3, 30, false, &sampled);
  for (const Params& p : sampled) {
    const int64_t units = std::get<int64_t>(p.at("units"));
    EXPECT_TRUE(units == 128 || units == 256 || units == 512);
    const double dropout = std::get<double>(p.at("dropout"));
    EXPECT_TRUE(dropout == 0.2 || dropout == 0.3 || dropout == 0.4 || dropout == 0.5) << dropout;
    const bool sgd = std::get<std::string>(p.at("optimizer")) == "sgd";
    EXPECT_EQ(p.count("momentum"), sgd ? 1u : 0u);
    const int64_t layers = std::get<int64_t>(p.at("layers"));
    EXPECT_TRUE(layers >= 1 && layers <= 4);
    const int64_t width = std::get<int64_t>(p.at("width"));
    EXPECT_TRUE(width >= 8 && width <= 512);
    const int64_t batch = std::get<int64_t>(p.at("batch"));
    EXPECT_TRUE(batch % 16 == 0 && batch >= 16 && batch <= 128);
    const double lr = std::get<double>(p.at("learning_rate"));
    EXPECT_TRUE(lr >= 1e-4 && lr <= 1e-2);
  }
}

TEST(GpSampler, EqualValuesEverywhereStillGiveAValidConfiguration) {
  std::vector<Observation> observations;
  for (int k = 0; k < 15; ++k) {
    std::mt19937_64 rng = TrialRng(9, k);
    observations.push_back({SampleParams(BraninSpace(), rng), 1.0});
  }
  observations.push_back(observations.back());  // a duplicate point too
  std::mt19937_64 rng = TrialRng(9, 99);
  const Params p = GpSample(BraninSpace(), Spec(SamplerKind::kGp), false, observations, rng);
  EXPECT_GE(Number(p.at("x1")), -5);
  EXPECT_LE(Number(p.at("x1")), 10);
}

TEST(GpSampler, TheKrigingBelieverSendsTheNextSampleAwayFromRunningTrials) {
  // 15 finished trials; the model's favourite point is where seven trials already run. With
  // the believer their variance collapses and the next sample goes elsewhere.
  double with_liar = 0, without = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    std::vector<Observation> observations;
    for (int k = 0; k < 15; ++k) {
      std::mt19937_64 rng = TrialRng(seed, k);
      Params p = SampleParams(BraninSpace(), rng);
      observations.push_back({p, Branin(p)});
    }
    std::mt19937_64 probe_rng = TrialRng(seed, 50);
    const Params favourite =
        GpSample(BraninSpace(), Spec(SamplerKind::kGp), false, observations, probe_rng);
    for (int k = 0; k < 7; ++k) {
      observations.push_back(Observation::Running(favourite));
    }
    for (bool liar : {true, false}) {
      SamplerSpec spec = Spec(SamplerKind::kGp);
      spec.constant_liar = liar;
      std::mt19937_64 rng = TrialRng(seed, 50);
      const Params next = GpSample(BraninSpace(), spec, false, observations, rng);
      const double d = std::hypot((Number(next.at("x1")) - Number(favourite.at("x1"))) / 15,
                                  (Number(next.at("x2")) - Number(favourite.at("x2"))) / 15);
      (liar ? with_liar : without) += d / 6;
    }
  }
  std::printf("mean distance from the running trials: believer %.4f, none %.4f\n", with_liar,
              without);
  EXPECT_LT(without, 1e-6);  // without it, the same favourite again
  EXPECT_GT(with_liar, 0.02);
}

}  // namespace
}  // namespace tuner::search
