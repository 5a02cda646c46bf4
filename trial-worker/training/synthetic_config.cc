#include "trial-worker/training/synthetic_config.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace tuner::worker {
namespace {

absl::Status ReadNumber(const nlohmann::json& config, const char* key, double min, double max,
                        const char* allowed, double* out) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number() || !(it->get<double>() >= min) || !(it->get<double>() <= max)) {
    return absl::InvalidArgumentError(absl::StrCat("trainer.", key, ": must be ", allowed,
                                                   " (got ", it->dump(), ")"));
  }
  *out = it->get<double>();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SyntheticConfig> ParseSyntheticConfig(const nlohmann::json& trainer_config) {
  SyntheticConfig config;
  if (trainer_config.is_null()) return config;
  if (!trainer_config.is_object()) {
    return absl::InvalidArgumentError("trainer: must be a mapping of keys to values");
  }
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (auto s = ReadNumber(trainer_config, "sleep_seconds", 0, 86400, "a number in [0, 86400]",
                          &config.sleep_seconds);
      !s.ok()) {
    return s;
  }
  if (auto s = ReadNumber(trainer_config, "noise", 0, kInf, "a number >= 0", &config.noise);
      !s.ok()) {
    return s;
  }
  if (auto s = ReadNumber(trainer_config, "fail_probability", 0, 1, "a number in [0, 1]",
                          &config.fail_probability);
      !s.ok()) {
    return s;
  }
  auto nan = trainer_config.find("nan_at_epoch");
  if (nan != trainer_config.end() && !nan->is_null()) {
    if (!nan->is_number_integer() || nan->get<int64_t>() < 1 || nan->get<int64_t>() > 1000000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trainer.nan_at_epoch: must be an integer epoch >= 1 (got ", nan->dump(), ")"));
    }
    config.nan_at_epoch = static_cast<int>(nan->get<int64_t>());
  }
  return config;
}

const std::vector<std::string>& SyntheticReportedMetrics() {
  static const std::vector<std::string> kMetrics = {"val_accuracy", "val_loss", "train_loss",
                                                    "lr"};
  return kMetrics;
}

}  // namespace tuner::worker
