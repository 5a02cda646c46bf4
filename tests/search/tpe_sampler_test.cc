#include "search/tpe_sampler.h"

#include <cmath>
#include <functional>
#include <vector>

#include "gtest/gtest.h"
#include "search/random_search.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using Objective = std::function<double(const Params&)>;

double Number(const ParamValue& value) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  return std::get<double>(value);
}

SearchSpace SeedSpace() {
  return specs::MustParse(specs::SpecYaml("{kind: random, max_trials: 1}")).space;
}

// A quadratic bowl over the four seed params, 0 at units 256, dropout 0.3, adam, lr 1e-3.
double Bowl(const Params& p) {
  const double lr = std::log10(Number(p.at("learning_rate"))) + 3;
  const double dropout = (Number(p.at("dropout")) - 0.3) / 0.1;
  const double units = std::log2(Number(p.at("units")) / 256.0);
  return lr * lr + 0.1 * dropout * dropout + 0.3 * units * units +
         (std::get<std::string>(p.at("optimizer")) == "adam" ? 0 : 0.2);
}

SearchSpace BraninSpace() {
  SearchSpace space;
  space.params.push_back({"x1", ParamKind::kFloat, -5, 10});
  space.params.push_back({"x2", ParamKind::kFloat, 0, 15});
  return space;
}

// Branin-Hoo: minimum 0.397887 at three points.
double Branin(const Params& p) {
  const double x1 = Number(p.at("x1")), x2 = Number(p.at("x2"));
  const double pi = 3.14159265358979323846;
  const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
  return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}

// The best (lowest) value after `trials` trials, sampled one after the other.
double BestOf(const SearchSpace& space, const Objective& f, bool tpe, uint64_t seed, int trials,
              std::vector<Params>* sampled = nullptr) {
  SamplerSpec spec;
  spec.kind = SamplerKind::kTpe;
  std::vector<Observation> observations;
  double best = INFINITY;
  for (int k = 0; k < trials; ++k) {
    std::mt19937_64 rng = TrialRng(seed, k);
    Params params = tpe ? TpeSample(space, spec, /*maximize=*/false, observations, rng)
                        : SampleParams(space, rng);
    const double value = f(params);
    best = std::min(best, value);
    if (sampled) sampled->push_back(params);
    observations.push_back({std::move(params), value, false});
  }
  return best;
}

double MeanBest(const SearchSpace& space, const Objective& f, bool tpe) {
  double sum = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) sum += BestOf(space, f, tpe, seed, 40);
  return sum / 8;
}

TEST(TpeSampler, BeatsRandomOnAQuadraticBowlOverTheSeedSpace) {
  const double tpe = MeanBest(SeedSpace(), Bowl, true);
  const double random = MeanBest(SeedSpace(), Bowl, false);
  std::printf("bowl mean best of 8 seeds x 40 trials: tpe %.4f random %.4f\n", tpe, random);
  EXPECT_LT(tpe, random);
}

TEST(TpeSampler, BeatsRandomOnBranin) {
  const double tpe = MeanBest(BraninSpace(), Branin, true);
  const double random = MeanBest(BraninSpace(), Branin, false);
  std::printf("branin mean best of 8 seeds x 40 trials: tpe %.4f random %.4f\n", tpe, random);
  EXPECT_LT(tpe, random);
}

TEST(TpeSampler, SameSeedAndHistorySameParams) {
  std::vector<Params> first, second, other;
  BestOf(SeedSpace(), Bowl, true, 3, 30, &first);
  BestOf(SeedSpace(), Bowl, true, 3, 30, &second);
  BestOf(SeedSpace(), Bowl, true, 4, 30, &other);
  EXPECT_EQ(first, second);
  EXPECT_NE(first, other);
}

TEST(TpeSampler, StartupTrialsAreTheRandomSamplersDraws) {
  std::vector<Params> tpe, random;
  BestOf(SeedSpace(), Bowl, true, 9, 15, &tpe);
  BestOf(SeedSpace(), Bowl, false, 9, 15, &random);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(tpe[k], random[k]) << k;
  int differ = 0;
  for (int k = 10; k < 15; ++k) differ += tpe[k] != random[k];
  EXPECT_GT(differ, 0);
}

TEST(TpeSampler, ValuesStayInTheSpaceWithTheirTypesAndGrids) {
  SearchSpace space = SeedSpace();
  space.params.push_back({"layers", ParamKind::kInt, 1, 4});
  space.params.push_back({"width", ParamKind::kInt, 8, 512, std::nullopt, /*log=*/true});
  space.params.push_back({"batch", ParamKind::kInt, 16, 128, 16.0});
  std::vector<Params> sampled;
  BestOf(space, Bowl, true, 5, 60, &sampled);
  for (const Params& p : sampled) {
    const int64_t units = std::get<int64_t>(p.at("units"));
    EXPECT_TRUE(units == 128 || units == 256 || units == 512);
    const double dropout = std::get<double>(p.at("dropout"));
    EXPECT_TRUE(dropout == 0.2 || dropout == 0.3 || dropout == 0.4 || dropout == 0.5) << dropout;
    const double lr = std::get<double>(p.at("learning_rate"));
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-2);
    const int64_t layers = std::get<int64_t>(p.at("layers"));
    EXPECT_GE(layers, 1);
    EXPECT_LE(layers, 4);
    const int64_t width = std::get<int64_t>(p.at("width"));
    EXPECT_GE(width, 8);
    EXPECT_LE(width, 512);
    const int64_t batch = std::get<int64_t>(p.at("batch"));
    EXPECT_EQ(batch % 16, 0);
    EXPECT_GE(batch, 16);
    EXPECT_LE(batch, 128);
  }
}

TEST(TpeSampler, PrunedObservationsCountAsBad) {
  // Ten good observations all at adam, and many pruned ones at rmsprop: adam wins every time.
  const SearchSpace space = SeedSpace();
  SamplerSpec spec;
  spec.kind = SamplerKind::kTpe;
  std::vector<Observation> observations;
  for (int k = 0; k < 40; ++k) {
    std::mt19937_64 rng = TrialRng(1, k);
    Params params = SampleParams(space, rng);
    const bool good = k < 10;
    params["optimizer"] = std::string(good ? "adam" : "rmsprop");
    observations.push_back({params, good ? 0.9 : 0.0, !good});
  }
  for (int k = 0; k < 10; ++k) {
    std::mt19937_64 rng = TrialRng(2, k);
    Params params = TpeSample(space, spec, /*maximize=*/true, observations, rng);
    EXPECT_EQ(std::get<std::string>(params.at("optimizer")), "adam");
  }
}

TEST(TpeSampler, RandomPolicyAsksTheSamplerWithTheFinishedTrials) {
  const StudySpec spec = specs::MustParse(
      specs::SpecYaml("{kind: random, max_trials: 50}\nsampler: {kind: tpe, n_startup_trials: 3}"));
  auto policy = RandomSearch::Create(spec);
  ASSERT_TRUE(policy.ok()) << policy.status();
  std::vector<TrialRecord> history;
  for (int k = 0; k < 6; ++k) {
    Plan plan = (*policy)->Next(history, 1);
    ASSERT_EQ(plan.new_trials.size(), 1u);
    TrialRecord trial;
    trial.number = k;
    trial.params = plan.new_trials[0].params;
    trial.state = TrialState::kCompleted;
    trial.value = -Bowl(trial.params);
    history.push_back(trial);
  }
  // The next trial is a pure function of (seed, number, finished trials).
  std::vector<Observation> observations = FinishedObservations(history);
  std::mt19937_64 rng = TrialRng(spec.seed, 6);
  EXPECT_EQ((*policy)->Next(history, 1).new_trials[0].params,
            TpeSample(spec.space, spec.sampler, true, observations, rng));
}

}  // namespace
}  // namespace tuner::search
