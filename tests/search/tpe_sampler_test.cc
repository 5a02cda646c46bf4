#include "search/tpe_sampler.h"

#include <cmath>
#include <functional>
#include <vector>

#include "gtest/gtest.h"
#include "search/parzen_estimator.h"
#include "search/random_search.h"
#include "tests/search/test_functions.h"
#include "tests/search/test_specs.h"

namespace tuner::search {
namespace {

using Objective = std::function<double(const Params&)>;

using functions::Branin;
using functions::BraninSpace;
using functions::Number;

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


// ---- the causes of the old TPE's weakness, one test each (Optuna 3.1 as the reference) ----

std::vector<Observation> Ramp(int n, bool maximize = false) {
  std::vector<Observation> out;
  for (int k = 0; k < n; ++k) {
    Observation o;
    o.params["x"] = static_cast<double>(k);
    o.value = maximize ? -k : k;  // observation k is the k-th best
    out.push_back(o);
  }
  return out;
}

TEST(TpeSplit, BelowIsTheBestMinOfCeilGammaNAnd25) {
  SamplerSpec spec;
  spec.gamma = 0.1;  // Optuna's default_gamma
  EXPECT_EQ(SplitObservations(spec, false, Ramp(100)).below.size(), 10u);
  EXPECT_EQ(SplitObservations(spec, false, Ramp(11)).below.size(), 2u);
  EXPECT_EQ(SplitObservations(spec, false, Ramp(400)).below.size(), 25u);
  spec.gamma = 0.2;  // ours
  const TpeSplit split = SplitObservations(spec, true, Ramp(60, /*maximize=*/true));
  ASSERT_EQ(split.below.size(), 12u);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(split.below[i], i);  // the best, in trial order
  EXPECT_EQ(split.above.size(), 48u);
  EXPECT_EQ(split.finished, 60u);
}

TEST(TpeSplit, PrunedRankAfterCompletedLaterEpochFirstAndRunningOnlyWithTheLiar) {
  std::vector<Observation> obs = Ramp(10);
  for (Observation& o : obs) o.value += 100;  // every completed one is worse than...
  Observation early, late, running;
  early.pruned = late.pruned = true;
  early.value = late.value = 0;  // ...these pruned values, which still rank after them
  early.step = 1;
  late.step = 5;
  running.running = true;
  obs.push_back(early);
  obs.push_back(late);
  obs.push_back(running);
  SamplerSpec spec;
  spec.gamma = 11.0 / 12.0;  // 11 of the 12 finished below
  TpeSplit split = SplitObservations(spec, false, obs);
  EXPECT_EQ(split.finished, 12u);
  ASSERT_EQ(split.below.size(), 11u);
  EXPECT_EQ(split.below.back(), 11u);               // the pruned one of epoch 5
  EXPECT_EQ(split.above, (std::vector<size_t>{10, 12}));  // epoch 1's, then the running one
  spec.constant_liar = false;
  split = SplitObservations(spec, false, obs);
  EXPECT_EQ(split.above, (std::vector<size_t>{10}));
}

TEST(TpeWeights, TheOldestRampDownPast25LikeOptunasDefaultWeights) {
  EXPECT_EQ(ObservationWeights(24), std::vector<double>(24, 1.0));
  const std::vector<double> w = ObservationWeights(30);
  ASSERT_EQ(w.size(), 30u);
  // numpy.linspace(1/30, 1, 5), then 25 ones.
  const double want[5] = {1.0 / 30, 1.0 / 30 + 0.25 * (29.0 / 30), 1.0 / 30 + 0.5 * (29.0 / 30),
                          1.0 / 30 + 0.75 * (29.0 / 30), 1.0};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(w[i], want[i], 1e-15) << i;
  for (int i = 5; i < 30; ++i) EXPECT_EQ(w[i], 1.0);
  EXPECT_NEAR(ObservationWeights(26)[0], 1.0 / 26, 1e-15);  // linspace of one point
}

ParzenEstimator Univariate(const ParamSpec& param, const std::vector<double>& xs,
                           bool endpoints, std::vector<Params>* storage) {
  storage->clear();
  for (double x : xs) storage->push_back({{param.name, x}});
  std::vector<const Params*> points;
  for (const Params& p : *storage) points.push_back(&p);
  SamplerSpec spec;
  spec.multivariate = false;
  spec.consider_endpoints = endpoints;
  return ParzenEstimator({&param}, points, spec);
}

TEST(TpeBandwidth, ThePriorsCentreIsANeighbourAndTheOutermostLookInward) {
  const ParamSpec x{"x", ParamKind::kFloat, 0, 1};
  std::vector<Params> storage;
  // Sorted with the prior: 0.3, [0.5], 0.9. 0.3's gaps: 0.3 to the range's end, 0.2 inward.
  ParzenEstimator inward = Univariate(x, {0.3, 0.9}, /*endpoints=*/false, &storage);
  const auto& d = inward.dimensions()[0];
  EXPECT_DOUBLE_EQ(d.sigmas[0], 0.25);  // inward gap 0.2, raised to the clip 1 / (2 + 2)
  EXPECT_DOUBLE_EQ(d.sigmas[1], 0.4);   // 0.9 - 0.5, inward
  EXPECT_DOUBLE_EQ(d.sigmas[2], 1.0);   // the prior: the whole range
  ParzenEstimator outward = Univariate(x, {0.3, 0.9}, /*endpoints=*/true, &storage);
  EXPECT_DOUBLE_EQ(outward.dimensions()[0].sigmas[0], 0.3);
  EXPECT_DOUBLE_EQ(outward.dimensions()[0].sigmas[1], 0.4);
}

TEST(TpeBandwidth, MagicClipKeepsKernelsBetweenRangeOverMin100KPlus2AndTheRange) {
  const ParamSpec x{"x", ParamKind::kFloat, 0, 10};
  std::vector<Params> storage;
  std::vector<double> xs;
  for (int k = 0; k < 300; ++k) xs.push_back(5.0 + 1e-6 * k);  // a tight cluster
  ParzenEstimator e = Univariate(x, xs, false, &storage);
  for (double s : e.dimensions()[0].sigmas) {
    EXPECT_GE(s, 10.0 / 100 - 1e-12);
    EXPECT_LE(s, 10.0);
  }
}

TEST(TpeChoiceKernel, EachObservationIsSmoothedByThePriorWeightNotASharpCount) {
  ParamSpec c{"c", ParamKind::kChoice};
  c.values = {std::string("a"), std::string("b"), std::string("c"), std::string("d")};
  std::vector<Params> storage = {{{"c", std::string("a")}}, {{"c", std::string("a")}},
                                 {{"c", std::string("c")}}};
  std::vector<const Params*> points;
  for (const Params& p : storage) points.push_back(&p);
  SamplerSpec spec;
  const ParzenEstimator e({&c}, points, spec);
  const auto& p = e.dimensions()[0].probabilities;
  ASSERT_EQ(p.size(), 4u);  // three observations and the prior
  // Row of an observation at "a": (1 + 1/4, 1/4, 1/4, 1/4) / 2.
  EXPECT_DOUBLE_EQ(p[0][0], 1.25 / 2);
  EXPECT_DOUBLE_EQ(p[0][1], 0.25 / 2);
  EXPECT_DOUBLE_EQ(p[2][2], 1.25 / 2);
  EXPECT_DOUBLE_EQ(p[3][3], 0.25);
  // The mixture, equal weights: P(a) = (0.625 + 0.625 + 0.125 + 0.25) / 4, P(b) with 0.125
  // from each observation's smoothing.
  EXPECT_NEAR(std::exp(e.LogPdf({{"c", std::string("a")}})), (1.25 + 0.125 + 0.25) / 4, 1e-12);
  EXPECT_NEAR(std::exp(e.LogPdf({{"c", std::string("b")}})), (3 * 0.125 + 0.25) / 4, 1e-12);
}

TEST(TpeMultivariate, OneKernelPerObservationFollowsACorrelatedValley) {
  // The valley x1 = x2: a joint kernel keeps x1 and x2 of one good observation together.
  SearchSpace space;
  space.params.push_back({"x1", ParamKind::kFloat, 0, 1});
  space.params.push_back({"x2", ParamKind::kFloat, 0, 1});
  const Objective valley = [](const Params& p) {
    const double a = Number(p.at("x1")), b = Number(p.at("x2"));
    return 50 * (a - b) * (a - b) + 0.1 * (a + b - 1.4) * (a + b - 1.4);
  };
  double joint = 0, separate = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    for (bool multivariate : {true, false}) {
      SamplerSpec spec;
      spec.kind = SamplerKind::kTpe;
      spec.multivariate = multivariate;
      std::vector<Observation> observations;
      double best = INFINITY;
      for (int k = 0; k < 60; ++k) {
        std::mt19937_64 rng = TrialRng(seed, k);
        Params params = TpeSample(space, spec, false, observations, rng);
        const double v = valley(params);
        best = std::min(best, v);
        observations.push_back({std::move(params), v});
      }
      (multivariate ? joint : separate) += best / 12;
    }
  }
  std::printf("valley mean best of 12 seeds x 60 trials: multivariate %.5f univariate %.5f\n",
              joint, separate);
  EXPECT_LT(joint, separate);
}

TEST(TpeConstantLiar, RunningTrialsPushTheNextSampleAwayFromThem) {
  // 20 finished trials, the best at x ~ 0.2; seven trials running right there. With the liar
  // they count as bad observations and the next sample keeps its distance.
  SearchSpace space;
  space.params.push_back({"x", ParamKind::kFloat, 0, 1});
  double with_liar = 0, without = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    std::vector<Observation> observations;
    for (int k = 0; k < 20; ++k) {
      const double x = (k + 0.5) / 20;
      observations.push_back({{{"x", x}}, (x - 0.2) * (x - 0.2)});
    }
    for (int k = 0; k < 7; ++k) {
      observations.push_back(Observation::Running({{"x", 0.2 + 0.002 * (k - 3)}}));
    }
    for (bool liar : {true, false}) {
      SamplerSpec spec;
      spec.kind = SamplerKind::kTpe;
      spec.constant_liar = liar;
      std::mt19937_64 rng = TrialRng(seed, 27);
      const double x = Number(TpeSample(space, spec, false, observations, rng).at("x"));
      (liar ? with_liar : without) += std::fabs(x - 0.2) / 40;
    }
  }
  std::printf("mean distance from the running trials: liar %.4f, none %.4f\n", with_liar, without);
  EXPECT_GT(with_liar, 1.5 * without);
}

}  // namespace
}  // namespace tuner::search

namespace tuner::search {
namespace {

TEST(SampleWith, AModelsRepeatOfATriedConfigurationIsDrawnAgain) {
  // A 3 x 3 grid of choices with 7 configurations tried: TPE alone keeps proposing the tried
  // favourites; SampleWith redraws, then looks for an untried one at random.
  SearchSpace space;
  ParamSpec a{"a", ParamKind::kChoice}, b{"b", ParamKind::kChoice};
  a.values = {std::string("x"), std::string("y"), std::string("z")};
  b.values = {int64_t{1}, int64_t{2}, int64_t{3}};
  space.params = {a, b};
  std::vector<Observation> observations;
  int k = 0;
  for (const ParamValue& va : a.values) {
    for (const ParamValue& vb : b.values) {
      if (k++ >= 7) break;
      for (int copy = 0; copy < 2; ++copy) {
        observations.push_back({{{"a", va}, {"b", vb}}, va == a.values[0] ? 0.0 : 1.0 + k});
      }
    }
  }
  const auto tried = [&](const Params& p) {
    for (const Observation& o : observations) {
      if (o.params == p) return true;
    }
    return false;
  };
  SamplerSpec spec;
  spec.kind = SamplerKind::kTpe;
  spec.n_startup_trials = 1;
  int repeats_alone = 0, repeats = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    std::mt19937_64 rng = TrialRng(seed, 14);
    repeats_alone += tried(TpeSample(space, spec, false, observations, rng));
    rng = TrialRng(seed, 14);
    repeats += tried(SampleWith(spec, space, false, observations, rng));
  }
  std::printf("repeats of tried configurations in 30 samples: tpe alone %d, SampleWith %d\n",
              repeats_alone, repeats);
  EXPECT_GT(repeats_alone, 20);
  EXPECT_LT(repeats, repeats_alone / 2);
}

}  // namespace
}  // namespace tuner::search
