#include "search/study_spec.h"

#include <string>
#include <vector>

#include "common/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search/policy.h"

namespace tuner::search {
namespace {

constexpr char kGoodSpec[] = R"(
name: seed000-cifar10
objective:
  metric: val_accuracy
  direction: maximize
algorithm:
  kind: random
  max_trials: 10
executions_per_trial: 2
max_parallel: 4
max_attempts: 3
seed: 42
search_space:
  units: {type: choice, values: [128, 256, 512]}
  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}
  optimizer: {type: choice, values: [adam, rmsprop]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
  layers: {type: int, min: 1, max: 4}
trainer:
  kind: synthetic
  epochs: 10
)";

// A minimal valid spec with `extra` lines appended at top level.
std::string Minimal(const std::string& algorithm = "{kind: random, max_trials: 3}",
                    const std::string& space = "{x: {type: float, min: 0, max: 1}}",
                    const std::string& trainer = "{kind: synthetic}") {
  return "name: t\nalgorithm: " + algorithm + "\nsearch_space: " + space + "\ntrainer: " + trainer +
         "\n";
}

TEST(ParseStudySpec, ReadsEveryField) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(kGoodSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "seed000-cifar10");
  EXPECT_EQ(spec->objective_metric, "val_accuracy");
  EXPECT_TRUE(spec->maximize);
  EXPECT_EQ(spec->algorithm, Algorithm::kRandom);
  EXPECT_EQ(spec->max_trials, 10);
  EXPECT_EQ(spec->executions_per_trial, 2);
  EXPECT_EQ(spec->max_parallel, 4);
  EXPECT_EQ(spec->max_attempts, 3);
  EXPECT_EQ(spec->seed, 42u);
  EXPECT_EQ(spec->epochs, 10);
  EXPECT_EQ(spec->trainer_kind, "synthetic");
  ASSERT_EQ(spec->space.params.size(), 5u);
  const std::vector<std::string> order = {"units", "dropout", "optimizer", "learning_rate",
                                          "layers"};
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(spec->space.params[i].name, order[i]);
  const ParamSpec& units = spec->space.params[0];
  EXPECT_EQ(units.kind, ParamKind::kChoice);
  EXPECT_EQ(units.values, (std::vector<ParamValue>{int64_t{128}, int64_t{256}, int64_t{512}}));
  const ParamSpec& dropout = spec->space.params[1];
  EXPECT_EQ(dropout.kind, ParamKind::kFloat);
  EXPECT_EQ(dropout.min, 0.2);
  EXPECT_EQ(dropout.max, 0.5);
  EXPECT_EQ(dropout.step, 0.1);
  EXPECT_EQ(spec->space.params[2].values,
            (std::vector<ParamValue>{std::string("adam"), std::string("rmsprop")}));
  EXPECT_TRUE(spec->space.params[3].log);
  EXPECT_EQ(spec->space.params[3].min, 1e-4);
  EXPECT_EQ(spec->space.params[4].kind, ParamKind::kInt);
  EXPECT_FALSE(spec->space.params[4].step.has_value());
}

TEST(ParseStudySpec, AppliesDefaults) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(Minimal());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->objective_metric, "val_accuracy");
  EXPECT_TRUE(spec->maximize);
  EXPECT_EQ(spec->executions_per_trial, 1);
  EXPECT_EQ(spec->max_parallel, 0);
  EXPECT_EQ(spec->max_attempts, 3);
  EXPECT_EQ(spec->seed, 0u);
  EXPECT_EQ(spec->epochs, 1);
}

TEST(ParseStudySpec, ReadsHyperbandAndItsDefaults) {
  absl::StatusOr<StudySpec> spec =
      ParseStudySpec(Minimal("{kind: hyperband, max_epochs: 81}") +
                     "objective: {direction: minimize, metric: val_loss}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->algorithm, Algorithm::kHyperband);
  EXPECT_EQ(spec->hyperband.max_epochs, 81);
  EXPECT_EQ(spec->hyperband.eta, 3);
  EXPECT_EQ(spec->hyperband.iterations, 1);
  EXPECT_FALSE(spec->maximize);
  EXPECT_EQ(spec->objective_metric, "val_loss");
}

TEST(ParseStudySpec, ReadsAFullUint64Seed) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(Minimal() + "seed: 18446744073709551615\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->seed, 18446744073709551615u);
}

TEST(ParseStudySpec, ChoiceValuesKeepTheirType) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(Minimal(
      "{kind: grid}",
      "{a: {type: choice, values: [1, 2.5]}, b: {type: choice, values: [1, adam]},"
      " c: {type: choice, values: ['128', '256']}, d: {type: choice, values: [true, false]}}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->space.params[0].values, (std::vector<ParamValue>{1.0, 2.5}));
  EXPECT_EQ(spec->space.params[1].values,
            (std::vector<ParamValue>{std::string("1"), std::string("adam")}));
  EXPECT_EQ(spec->space.params[2].values,
            (std::vector<ParamValue>{std::string("128"), std::string("256")}));
  EXPECT_EQ(spec->space.params[3].values,
            (std::vector<ParamValue>{std::string("true"), std::string("false")}));
}

TEST(ParseStudySpec, TrainerSectionPassesThroughAsTypedJson) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(
      Minimal("{kind: random, max_trials: 1}", "{x: {type: float, min: 0, max: 1}}",
              "\n  kind: torch\n  epochs: 20\n  batch_size: 64\n  lr_scale: 0.5\n  freeze: true\n"
              "  label: '128'\n  name: resnet50\n  answer: yes\n  nothing: ~\n"
              "  dataset: {name: cifar10, path: /data/cifar}\n  sizes: [1, 2.5, x]\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->trainer_kind, "torch");
  EXPECT_EQ(spec->epochs, 20);
  const nlohmann::json json = nlohmann::json::parse(spec->trainer_json);
  EXPECT_EQ(json.at("kind"), "torch");
  EXPECT_TRUE(json.at("epochs").is_number_integer());
  EXPECT_EQ(json.at("batch_size"), 64);
  EXPECT_TRUE(json.at("lr_scale").is_number_float());
  EXPECT_EQ(json.at("lr_scale"), 0.5);
  EXPECT_EQ(json.at("freeze"), true);
  EXPECT_EQ(json.at("label"), "128");  // quoted: the author asked for a string
  EXPECT_EQ(json.at("name"), "resnet50");
  EXPECT_EQ(json.at("answer"), "yes");  // YAML 1.2: only true/false are bools
  EXPECT_TRUE(json.at("nothing").is_null());
  EXPECT_EQ(json.at("dataset").at("path"), "/data/cifar");
  EXPECT_EQ(json.at("sizes"), nlohmann::json::parse(R"([1, 2.5, "x"])"));
}

struct BadCase {
  std::string yaml;
  std::string message;  // must appear in the error
};

TEST(ParseStudySpec, RefusesBadSpecsNamingTheField) {
  const std::vector<BadCase> cases = {
      // A number in quotes is text: the message says so instead of "(got 4)".
      {Minimal("{kind: random, max_trials: \"4\"}"),
       "algorithm.max_trials: must be an integer >= 1 and <= 100000 (got \"4\", a quoted "
       "string; write 4 without quotes)"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: int, min: '1', max: 8}}"),
       "search_space.x.min: must be an integer (got \"1\", a quoted string; write 1 without "
       "quotes)"},
      {Minimal("{kind: random, max_trials: 3}",
               "{dropout: {type: float, min: 0.2, max: 0.5, step: -0.1}}"),
       "search_space.dropout.step: must be > 0"},
      {Minimal("{kind: bayes}"),
       "algorithm.kind: must be one of random, grid, hyperband, asha (got \"bayes\")"},
      {Minimal("{kind: random, max_trials: 3}",
               "{learning_rate: {type: float, min: 0, max: 0.01, log: true}}"),
       "search_space.learning_rate.min: must be > 0 for a log range"},
      {Minimal("{kind: random, max_trials: 3}", "{units: {type: choice, values: []}}"),
       "search_space.units.values: must be a non-empty list"},
      {Minimal("{kind: random, max_trials: 3}", "{units: {type: choice}}"),
       "search_space.units.values: must be a non-empty list"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: str}}"),
       "search_space.x.type: must be one of int, float, choice"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {min: 0, max: 1}}"),
       "search_space.x.type: is required"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: float, min: 2, max: 1}}"),
       "search_space.x.max: must be >= min"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: float, min: 0}}"),
       "search_space.x.max: is required"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: float, min: 0, max: 1, sep: 2}}"),
       "search_space.x: unknown field \"sep\" (allowed for type float: type, min, max, step, log, when)"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: int, min: 0.5, max: 3}}"),
       "search_space.x.min: must be an integer"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: int, min: 0, max: 3, step: 0}}"),
       "search_space.x.step: must be an integer >= 1"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: float, min: 0, max: 1, log: maybe}}"),
       "search_space.x.log: must be true or false"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: float, min: abc, max: 1}}"),
       "search_space.x.min: must be a finite number (got abc)"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: choice, values: [1, 2, 1]}}"),
       "search_space.x.values: duplicate value 1"},
      {Minimal("{kind: random, max_trials: 3}", "{x: {type: choice, values: [[1], 2]}}"),
       "search_space.x.values[0]: must be a number or a string"},
      {Minimal("{kind: random, max_trials: 3}", "{2x: {type: float, min: 0, max: 1}}"),
       "search_space.2x: param names must match"},
      {Minimal("{kind: random, max_trials: 3}", "{}"), "search_space: must be a non-empty mapping"},
      {Minimal("{kind: random, max_trials: 3}", "[x, y]"),
       "search_space: must be a non-empty mapping"},
      {Minimal("{kind: random, max_trials: 3}", "{x: 5}"), "search_space.x: must be a mapping"},
      {Minimal("{kind: grid}", "{learning_rate: {type: float, min: 0.0001, max: 0.01}}"),
       "search_space.learning_rate: grid search needs a step or a choice list (float range without "
       "step)"},
      {Minimal("{kind: grid}",
               "{a: {type: int, min: 1, max: 1000}, b: {type: int, min: 1, max: 1000}}"),
       "search_space: grid search has more than 100000 combinations"},
      {Minimal("{kind: random}"), "algorithm.max_trials: is required"},
      {Minimal("{kind: random, max_trials: 0}"),
       "algorithm.max_trials: must be an integer >= 1 and <= 100000 (got 0)"},
      {Minimal("{kind: random, max_trials: 100001}"),
       "algorithm.max_trials: must be an integer >= 1"},
      {Minimal("{kind: random, max_trials: 3.5}"), "algorithm.max_trials: must be an integer"},
      {Minimal("{kind: random, max_trials: 3, max_epochs: 9}"),
       "algorithm: unknown field \"max_epochs\" (allowed for kind random: kind, max_trials)"},
      {Minimal("{max_trials: 3}"), "algorithm.kind: is required"},
      {Minimal("{kind: hyperband}"), "algorithm.max_epochs: is required"},
      {Minimal("{kind: hyperband, max_epochs: 0}"),
       "algorithm.max_epochs: must be an integer >= 1"},
      {Minimal("{kind: hyperband, max_epochs: 81, eta: 1}"),
       "algorithm.eta: must be an integer >= 2"},
      {Minimal("{kind: hyperband, max_epochs: 81, iterations: 0}"),
       "algorithm.iterations: must be an integer >= 1"},
      {Minimal("{kind: hyperband, max_epochs: 81, iterations: 1000}"),
       "algorithm: hyperband with max_epochs 81, eta 3 and iterations 1000 plans 143000 trials"},
      {Minimal() + "foo: 1\n", "unknown field \"foo\" (allowed: name, objective, algorithm,"},
      {Minimal() + "name: again\n", "duplicate field \"name\""},
      {Minimal() + "executions_per_trial: 0\n",
       "executions_per_trial: must be an integer >= 1 and <= 100"},
      {Minimal() + "executions_per_trial: 101\n", "executions_per_trial: must be an integer"},
      {Minimal() + "max_parallel: -1\n", "max_parallel: must be an integer >= 0"},
      {Minimal() + "max_attempts: 0\n", "max_attempts: must be an integer >= 1"},
      {Minimal() + "seed: -1\n", "seed: must be an integer in [0, 2^64)"},
      {Minimal() + "seed: 18446744073709551616\n", "seed: must be an integer in [0, 2^64)"},
      {Minimal() + "seed: abc\n", "seed: must be an integer in [0, 2^64)"},
      {Minimal() + "objective: {direction: up}\n",
       "objective.direction: must be one of maximize, minimize (got \"up\")"},
      {Minimal() + "objective: {metric: 'val acc'}\n", "objective.metric: must be"},
      {Minimal() + "objective: {goal: 1}\n", "objective: unknown field \"goal\""},
      {"algorithm: {kind: grid}\nsearch_space: {x: {type: choice, values: [1]}}\ntrainer: {kind: "
       "synthetic}\n",
       "name: is required"},
      {"name: 'bad name!'\nalgorithm: {kind: grid}\nsearch_space: {x: {type: choice, values: "
       "[1]}}\n"
       "trainer: {kind: synthetic}\n",
       "name: must be 1-64 characters of [A-Za-z0-9._-]"},
      {"name: " + std::string(65, 'a') +
           "\nalgorithm: {kind: grid}\n"
           "search_space: {x: {type: choice, values: [1]}}\ntrainer: {kind: synthetic}\n",
       "name: must be 1-64 characters"},
      {"name: t\nalgorithm: {kind: grid}\nsearch_space: {x: {type: choice, values: [1]}}\n",
       "trainer: is required"},
      {Minimal("{kind: grid}", "{x: {type: choice, values: [1]}}", "{epochs: 3}"),
       "trainer.kind: is required (one of synthetic, torch, command)"},
      {Minimal("{kind: grid}", "{x: {type: choice, values: [1]}}", "{kind: keras}"),
       "trainer.kind: must be one of synthetic, torch, command (got \"keras\")"},
      {Minimal("{kind: grid}", "{x: {type: choice, values: [1]}}", "{kind: synthetic, epochs: 0}"),
       "trainer.epochs: must be an integer >= 1"},
      {Minimal("{kind: grid}", "{x: {type: choice, values: [1]}}", "synthetic"),
       "trainer: must be a mapping"},
      {"- just\n- a list\n", "spec: must be a YAML mapping"},
      {"", "spec: must be a YAML mapping"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<StudySpec> spec = ParseStudySpec(c.yaml);
    ASSERT_FALSE(spec.ok()) << "accepted:\n" << c.yaml;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << "want: " << c.message << "\ngot:  " << spec.status().message();
  }
}

TEST(ParseStudySpec, ReadsAshaAndItsDefaults) {
  StudySpec spec = *ParseStudySpec(Minimal("{kind: asha, max_trials: 50, max_epochs: 27}"));
  EXPECT_EQ(spec.algorithm, Algorithm::kAsha);
  EXPECT_EQ(spec.max_trials, 50);
  EXPECT_EQ(spec.asha.max_epochs, 27);
  EXPECT_EQ(spec.asha.min_epochs, 1);
  EXPECT_EQ(spec.asha.eta, 3);
  EXPECT_EQ(spec.asha.brackets, 1);
  spec = *ParseStudySpec(Minimal(
      "{kind: asha, max_trials: 5, min_epochs: 2, max_epochs: 50, eta: 4, brackets: 2}"));
  EXPECT_EQ(spec.asha.min_epochs, 2);
  EXPECT_EQ(spec.asha.eta, 4);
  EXPECT_EQ(spec.asha.brackets, 2);
}

TEST(ParseStudySpec, ReadsSamplerAndPruner) {
  StudySpec spec = *ParseStudySpec(Minimal() + "sampler: tpe\npruner: {kind: median}\n");
  EXPECT_EQ(spec.sampler.kind, SamplerKind::kTpe);
  EXPECT_EQ(spec.sampler.n_startup_trials, 10);
  EXPECT_DOUBLE_EQ(spec.sampler.gamma, 0.2);
  EXPECT_EQ(spec.sampler.n_ei_candidates, 24);
  EXPECT_TRUE(spec.sampler.multivariate);
  EXPECT_DOUBLE_EQ(spec.sampler.bandwidth, 0.1);
  EXPECT_TRUE(spec.sampler.constant_liar);
  EXPECT_DOUBLE_EQ(spec.sampler.prior_weight, 1.0);
  EXPECT_FALSE(spec.sampler.consider_endpoints);
  EXPECT_EQ(spec.pruner.kind, PrunerKind::kMedian);
  EXPECT_EQ(spec.pruner.n_startup_trials, 5);
  EXPECT_EQ(spec.pruner.n_warmup_epochs, 0);
  EXPECT_EQ(spec.pruner.interval_epochs, 1);
  spec = *ParseStudySpec(
      Minimal("{kind: asha, max_trials: 5, max_epochs: 9}") +
      "sampler: {kind: tpe, n_startup_trials: 4, gamma: 0.1, n_ei_candidates: 8}\n");
  EXPECT_EQ(spec.sampler.n_startup_trials, 4);
  EXPECT_DOUBLE_EQ(spec.sampler.gamma, 0.1);
  EXPECT_EQ(spec.sampler.n_ei_candidates, 8);
  spec = *ParseStudySpec(Minimal() + "pruner: {kind: median, n_startup_trials: 2, "
                                     "n_warmup_epochs: 3, interval_epochs: 2}\n");
  EXPECT_EQ(spec.pruner.n_startup_trials, 2);
  EXPECT_EQ(spec.pruner.n_warmup_epochs, 3);
  EXPECT_EQ(spec.pruner.interval_epochs, 2);
  spec = *ParseStudySpec(Minimal() + "sampler: {kind: tpe, multivariate: false, constant_liar: "
                                     "false, prior_weight: 2, consider_endpoints: true, "
                                     "bandwidth: 0.2}\n");
  EXPECT_DOUBLE_EQ(spec.sampler.bandwidth, 0.2);
  EXPECT_FALSE(spec.sampler.multivariate);
  EXPECT_FALSE(spec.sampler.constant_liar);
  EXPECT_DOUBLE_EQ(spec.sampler.prior_weight, 2.0);
  EXPECT_TRUE(spec.sampler.consider_endpoints);
  spec = *ParseStudySpec(Minimal() + "sampler: {kind: gp, n_startup_trials: 5, n_candidates: 500}\n");
  EXPECT_EQ(spec.sampler.kind, SamplerKind::kGp);
  EXPECT_EQ(spec.sampler.n_startup_trials, 5);
  EXPECT_EQ(spec.sampler.n_candidates, 500);
  spec = *ParseStudySpec(Minimal("{kind: hyperband, max_epochs: 9}") + "sampler: tpe\n");
  EXPECT_EQ(spec.sampler.kind, SamplerKind::kTpe);
  spec = *ParseStudySpec(Minimal() + "sampler: {kind: random}\npruner: {kind: none}\n");
  EXPECT_EQ(spec.sampler.kind, SamplerKind::kRandom);
  EXPECT_EQ(spec.pruner.kind, PrunerKind::kNone);
}

TEST(ParseStudySpec, RefusesBadAshaSamplerAndPrunerNamingTheField) {
  const std::vector<BadCase> cases = {
      {Minimal("{kind: asha, max_epochs: 9}"),
       "algorithm.max_trials: is required (an integer >= 1 and <= 100000)"},
      {Minimal("{kind: asha, max_trials: 5}"), "algorithm.max_epochs: is required"},
      {Minimal("{kind: asha, max_trials: 5, max_epochs: 9, min_epochs: 10}"),
       "algorithm.min_epochs: must be an integer >= 1 and <= 9 (got 10)"},
      {Minimal("{kind: asha, max_trials: 5, max_epochs: 9, eta: 1}"),
       "algorithm.eta: must be an integer >= 2 and <= 1000 (got 1)"},
      {Minimal("{kind: asha, max_trials: 5, max_epochs: 9, brackets: 4}"),
       "algorithm.brackets: must be an integer >= 1 and <= 3"},
      {Minimal("{kind: asha, max_trials: 5, max_epochs: 9, iterations: 2}"),
       "algorithm: unknown field \"iterations\" (allowed for kind asha: kind, max_trials, "
       "min_epochs, max_epochs, eta, brackets)"},
      {Minimal() + "sampler: bayes\n", "sampler.kind: must be one of random, tpe, gp (got \"bayes\")"},
      {Minimal() + "sampler: {kind: tpe, multivariate: yes please}\n",
       "sampler.multivariate: must be true or false (got yes please)"},
      {Minimal() + "sampler: {kind: tpe, prior_weight: 0}\n",
       "sampler.prior_weight: must be a number > 0 and <= 1e+06 (got 0)"},
      {Minimal() + "sampler: {kind: tpe, n_candidates: 100}\n",
       "sampler.n_candidates: is a gp field (sampler.kind is tpe)"},
      {Minimal() + "sampler: {kind: gp, gamma: 0.2}\n",
       "sampler.gamma: is a tpe field (sampler.kind is gp)"},
      {Minimal() + "sampler: {kind: gp, n_candidates: 5}\n",
       "sampler.n_candidates: must be an integer >= 10 and <= 100000 (got 5)"},
      {Minimal() + "sampler: {kind: random, constant_liar: true}\n",
       "sampler.constant_liar: is a tpe and gp field (sampler.kind is random)"},
      {Minimal() + "sampler: {kind: tpe, gamma: 1.5}\n",
       "sampler.gamma: must be a number > 0 and < 1 (got 1.5)"},
      {Minimal() + "sampler: {kind: tpe, n_ei_candidates: 0}\n",
       "sampler.n_ei_candidates: must be an integer >= 1 and <= 10000 (got 0)"},
      {Minimal() + "sampler: {kind: tpe, n_startup: 3}\n",
       "sampler: unknown field \"n_startup\" (allowed: kind, n_startup_trials, constant_liar, "
       "gamma, n_ei_candidates, multivariate, bandwidth, prior_weight, consider_endpoints, "
       "n_candidates)"},
      {Minimal() + "sampler: {kind: tpe, bandwidth: 2}\n",
       "sampler.bandwidth: must be a number > 0 and <= 1 (got 2)"},
      {Minimal() + "sampler: {kind: random, gamma: 0.5}\n",
       "sampler.gamma: is a tpe field (sampler.kind is random)"},
      {Minimal("{kind: grid}", "{x: {type: choice, values: [1]}}") + "sampler: tpe\n",
       "sampler.kind: tpe cannot be combined with algorithm kind grid, which lists every "
       "configuration itself (a sampler is allowed with random, hyperband, asha)"},
      {Minimal() + "pruner: {kind: x}\n", "pruner.kind: must be one of median, none (got \"x\")"},
      {Minimal() + "pruner: median\n", "pruner: must be a mapping of fields"},
      {Minimal() + "pruner: {kind: median, n_warmup_epochs: -1}\n",
       "pruner.n_warmup_epochs: must be an integer >= 0"},
      {Minimal() + "pruner: {kind: median, patience: 3}\n",
       "pruner: unknown field \"patience\" (allowed: kind, n_startup_trials, n_warmup_epochs, "
       "interval_epochs)"},
      {Minimal() + "pruner: {kind: median, interval_epochs: 0}\n",
       "pruner.interval_epochs: must be an integer >= 1"},
      {Minimal() + "pruner: {kind: none, n_startup_trials: 3}\n",
       "pruner.n_startup_trials: is a median field (pruner.kind is none)"},
      {Minimal("{kind: asha, max_trials: 5, max_epochs: 9}") + "pruner: {kind: median}\n",
       "pruner.kind: median cannot be combined with algorithm kind asha, which stops trials "
       "itself"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<StudySpec> spec = ParseStudySpec(c.yaml);
    ASSERT_FALSE(spec.ok()) << "accepted:\n" << c.yaml;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << "want: " << c.message << "\ngot:  " << spec.status().message();
  }
}

TEST(ParseStudySpec, ErrorsSayTheLine) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(
      "name: t\nalgorithm: {kind: random, max_trials: 3}\nsearch_space:\n"
      "  dropout: {type: float, min: 0.2, max: 0.5, step: -0.1}\ntrainer: {kind: synthetic}\n");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("at line 4"), std::string::npos) << spec.status();
}

TEST(ParseStudySpec, BrokenYamlIsAnErrorWithLineAndColumnNotAnException) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec("name: t\nalgorithm: {kind: random\n");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("spec: invalid YAML at line"), std::string::npos)
      << spec.status();
  EXPECT_NE(spec.status().message().find("column"), std::string::npos) << spec.status();
}

TEST(ParseStudySpec, ExpandingAliasesInTheTrainerAreRefused) {
  std::string yaml = Minimal("{kind: grid}", "{x: {type: choice, values: [1]}}",
                             "\n  kind: synthetic\n  a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n");
  std::string previous = "a";
  for (char level = 'b'; level <= 'h'; ++level) {
    yaml += std::string("  ") + level + ": &" + level + " [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", *" : "*") + previous;
    yaml += "]\n";
    previous = std::string(1, level);
  }
  absl::StatusOr<StudySpec> spec = ParseStudySpec(yaml);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("trainer"), std::string::npos) << spec.status();
}

// The value an error shows is cut to 61 bytes: on a character boundary, else the message is
// not UTF-8 and a gRPC client cannot read the reply.
TEST(ParseStudySpec, ALongValueInAnErrorIsCutOnACharacterBoundary) {
  std::string euros;
  for (int i = 0; i < 30; ++i) euros += "\xE2\x82\xAC";  // U+20AC, 3 bytes: byte 61 is inside one
  absl::StatusOr<StudySpec> spec =
      ParseStudySpec("name: " + euros + "\nalgorithm: {kind: random}\nsearch_space: {x: {type: "
                     "float, min: 0, max: 1}}\ntrainer: {kind: synthetic}\n");
  ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(spec.status().message());
  EXPECT_TRUE(IsValidUtf8(message)) << message;
  EXPECT_NE(message.find("\"" + euros.substr(0, 60) + "...\""), std::string::npos) << message;
}

TEST(ParseStudySpec, ADuplicateParamIsRefusedNamingIt) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(Minimal(
      "{kind: random, max_trials: 3}",
      "\n  x: {type: float, min: 0, max: 1}\n  y: {type: int, min: 0, max: 1}\n"
      "  x: {type: int, min: 0, max: 2}"));
  ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("search_space: duplicate param \"x\""), std::string::npos)
      << spec.status();
  // MakePolicy checks a spec built by hand (or read back) the same way.
  absl::StatusOr<StudySpec> good = ParseStudySpec(Minimal());
  ASSERT_TRUE(good.ok()) << good.status();
  good->space.params.push_back(good->space.params[0]);
  EXPECT_EQ(MakePolicy(*good).status().message(), "search_space: duplicate param \"x\"");
}

TEST(AlgorithmName, NamesMatchTheSpecKinds) {
  EXPECT_STREQ(AlgorithmName(Algorithm::kRandom), "random");
  EXPECT_STREQ(AlgorithmName(Algorithm::kGrid), "grid");
  EXPECT_STREQ(AlgorithmName(Algorithm::kHyperband), "hyperband");
  EXPECT_STREQ(AlgorithmName(Algorithm::kAsha), "asha");
}

}  // namespace
}  // namespace tuner::search
