// The synthetic trainer's keys of a trainer section (see trial-worker/synthetic_trainer.h),
// validated. Torch-free and I/O-free: the server checks them at CreateStudy.
#ifndef TUNER_TRIAL_WORKER_TRAINING_SYNTHETIC_CONFIG_H_
#define TUNER_TRIAL_WORKER_TRAINING_SYNTHETIC_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tuner::worker {

struct SyntheticConfig {
  double sleep_seconds = 0;
  double noise = 0.01;
  double fail_probability = 0;
  std::optional<int> nan_at_epoch;
};

// INVALID_ARGUMENT naming the key (e.g. "trainer.noise: must be a number >= 0"). Keys other
// than the four above are ignored: they belong to other parts of the trainer section.
absl::StatusOr<SyntheticConfig> ParseSyntheticConfig(const nlohmann::json& trainer_config);

// The metrics every epoch report of the synthetic trainer carries.
const std::vector<std::string>& SyntheticReportedMetrics();

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRAINING_SYNTHETIC_CONFIG_H_
