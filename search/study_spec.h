// StudySpec: the validated form of a study's YAML spec. Parsing is pure (text in, spec or a
// clear error out) so the server, tunectl and tests share one validator.
#ifndef TUNER_SEARCH_STUDY_SPEC_H_
#define TUNER_SEARCH_STUDY_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "search/space.h"

namespace tuner::search {

enum class Algorithm { kRandom, kGrid, kHyperband };
const char* AlgorithmName(Algorithm algorithm);

struct HyperbandSpec {
  int max_epochs = 0;   // R: the most epochs one configuration gets
  int eta = 3;          // keep the top 1/eta of each rung
  int iterations = 1;   // how many times the full set of brackets runs
};

struct StudySpec {
  std::string name;
  std::string objective_metric = "val_accuracy";
  bool maximize = true;
  Algorithm algorithm = Algorithm::kRandom;
  int max_trials = 10;          // random only
  HyperbandSpec hyperband;      // hyperband only
  int executions_per_trial = 1;
  int max_parallel = 0;         // 0: no limit
  int max_attempts = 3;         // leases per trial before it is FAILED
  uint64_t seed = 0;
  int epochs = 1;               // epochs per trial for random and grid (trainer.epochs)
  SearchSpace space;
  std::string trainer_kind = "synthetic";  // synthetic | torch
  std::string trainer_json;     // the whole trainer section as JSON, handed to workers
};

// Parses and validates. Errors are INVALID_ARGUMENT with the field path and what is allowed,
// e.g. "search_space.dropout.step: must be > 0".
absl::StatusOr<StudySpec> ParseStudySpec(const std::string& yaml_text);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_STUDY_SPEC_H_
