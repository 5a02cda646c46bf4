// StudySpec: the validated form of a study's YAML spec. Parsing is pure (text in, spec or a
// clear error out) so the server, tunectl and tests share one validator.
#ifndef TUNER_SEARCH_STUDY_SPEC_H_
#define TUNER_SEARCH_STUDY_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "search/space.h"

namespace tuner::search {

enum class Algorithm { kRandom, kGrid, kHyperband, kAsha };
const char* AlgorithmName(Algorithm algorithm);

struct HyperbandSpec {
  int max_epochs = 0;   // R: the most epochs one configuration gets
  int eta = 3;          // keep the top 1/eta of each rung
  int iterations = 1;   // how many times the full set of brackets runs
};

// ASHA (Li et al., MLSys 2020). Bracket s has rungs at min_epochs * eta^(s+k) epochs below
// max_epochs, then max_epochs; new configurations go to brackets round-robin.
struct AshaSpec {
  int min_epochs = 1;   // r: epochs of bracket 0's first rung
  int max_epochs = 0;   // R: the most epochs one configuration gets
  int eta = 3;          // a rung promotes its top 1/eta
  int brackets = 1;     // 1: standard ASHA (early-stopping rate 0)
};

// How new configurations are chosen (random, asha, hyperband: for hyperband and asha a model
// is BOHB, fitted on the largest rung with enough values; see search/sampler.h).
enum class SamplerKind { kRandom, kTpe, kGp };
const char* SamplerName(SamplerKind kind);
struct SamplerSpec {
  SamplerKind kind = SamplerKind::kRandom;
  int n_startup_trials = 10;  // random until this many trials have a value to learn from
  // Pending and running trials enter the model as bad (TPE: in g(x)) or believed (GP: at the
  // model's mean) observations, so parallel workers do not sample the same region.
  bool constant_liar = true;
  // TPE (see search/tpe_sampler.h).
  // Defaults differ from Optuna's (gamma 0.1, bandwidth 0.2) where the benchmark showed
  // better configurations (docs/benchmarks.md, search quality).
  double gamma = 0.2;          // l(x): the best min(ceil(gamma * n), 25) observations
  int n_ei_candidates = 24;    // candidates drawn from l(x)
  bool multivariate = true;    // one joint kernel per observation (false: param by param)
  double bandwidth = 0.1;      // multivariate kernels: bandwidth * k^(-1/(d+4)) of the range
  double prior_weight = 1.0;
  bool consider_endpoints = false;
  // GP (see search/gp_sampler.h).
  int n_candidates = 2000;     // random candidates for the acquisition, before local search
};

// Stopping hopeless trials at ReportIntermediate (random and grid): Optuna's MedianPruner.
enum class PrunerKind { kNone, kMedian };
struct PrunerSpec {
  PrunerKind kind = PrunerKind::kNone;
  int n_startup_trials = 5;   // no pruning before this many trials COMPLETED
  int n_warmup_epochs = 0;    // no trial is pruned at an epoch < n_warmup_epochs
  int interval_epochs = 1;    // judge at n_warmup_epochs + k * interval_epochs
};

struct StudySpec {
  std::string name;
  std::string objective_metric = "val_accuracy";
  bool maximize = true;
  // An execution's value: its best epoch by the objective (Keras Tuner's rule), or with
  // `objective.reduce: last` its last epoch (the one whose weights it ends with).
  bool objective_reduce_last = false;
  Algorithm algorithm = Algorithm::kRandom;
  int max_trials = 10;          // random and asha
  HyperbandSpec hyperband;      // hyperband only
  AshaSpec asha;                // asha only
  SamplerSpec sampler;
  PrunerSpec pruner;
  int executions_per_trial = 1;
  int max_parallel = 0;         // 0: no limit
  int max_attempts = 3;         // leases per trial before it is FAILED
  uint64_t seed = 0;
  // Every finished trial uploads its final checkpoint (for `tunectl ensemble`), not only
  // trials a rung may promote.
  bool keep_checkpoints = false;
  int epochs = 1;               // epochs per trial for random and grid (trainer.epochs)
  SearchSpace space;
  std::string trainer_kind = "synthetic";  // synthetic | torch | command
  std::string trainer_json;     // the whole trainer section as JSON, handed to workers
};

// Parses and validates. Errors are INVALID_ARGUMENT with the field path and what is allowed,
// e.g. "search_space.dropout.step: must be > 0".
absl::StatusOr<StudySpec> ParseStudySpec(const std::string& yaml_text);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_STUDY_SPEC_H_
