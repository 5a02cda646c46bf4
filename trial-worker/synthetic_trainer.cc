#include "trial-worker/synthetic_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "trial-worker/training/trainer_spec.h"

namespace tuner::worker {
namespace {

constexpr double kPi = 3.14159265358979323846;

uint64_t Fnv1a(const std::string& text, uint64_t hash = 14695981039346656037ull) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// [0, 1) from the top 53 bits.
double Unit(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

std::optional<double> Numeric(const search::Params& params, const std::string& name) {
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&it->second)) return *d;
  return std::nullopt;
}

uint64_t ParamsHash(const search::Params& params) {
  uint64_t hash = Fnv1a("");
  for (const auto& [name, value] : params) {
    hash = Fnv1a(name + "=" + search::ParamValueToString(value) + ";", hash);
  }
  return hash;
}

// The noise-free shape of one configuration's curve.
struct Curve {
  double asymptote = 0.5;
  double tau = 2;
};

Curve CurveFor(const search::Params& params, uint64_t params_hash) {
  double weighted = 0;
  double weights = 0;
  double hashed_sum = 0;
  int hashed = 0;
  for (const auto& [name, value] : params) {
    if (name == "learning_rate" || name == "dropout") continue;
    hashed_sum += Unit(SplitMix64(Fnv1a(name + "=" + search::ParamValueToString(value))));
    ++hashed;
  }
  if (hashed > 0) {
    weighted += 0.4 * hashed_sum / hashed;
    weights += 0.4;
  }
  std::optional<double> lr = Numeric(params, "learning_rate");
  if (lr && !(*lr > 0)) lr.reset();
  if (lr) {
    const double d = std::log10(*lr) + 3;
    weighted += 0.45 * std::exp(-d * d / 2);
    weights += 0.45;
  }
  if (std::optional<double> dropout = Numeric(params, "dropout")) {
    const double d = *dropout - 0.3;
    weighted += 0.15 * std::clamp(1 - d * d, 0.0, 1.0);
    weights += 0.15;
  }
  Curve curve;
  const double quality = weights > 0 ? weighted / weights : 0.5;
  curve.asymptote = 0.5 + 0.45 * std::clamp(quality, 0.0, 1.0);
  curve.tau = lr ? std::clamp(2 + 2 * (-std::log10(*lr) - 2), 1.0, 8.0)
                 : 2 + 4 * Unit(SplitMix64(params_hash));
  return curve;
}

// Standard normal from (execution seed, epoch, params hash), by Box-Muller.
double Normal(uint64_t seed, int epoch, uint64_t params_hash) {
  const uint64_t k1 =
      SplitMix64(SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(epoch)) ^ params_hash);
  const uint64_t k2 = SplitMix64(k1);
  const double u1 = 1 - Unit(k1);  // (0, 1]: log is finite
  const double u2 = Unit(k2);
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * kPi * u2);
}

// One execution's state at the last epoch that every execution finished.
struct Execution {
  std::vector<double> values;             // objective per epoch; values[e - 1] is epoch e
  std::map<std::string, double> metrics;  // at the last epoch
};

absl::Status LoadCheckpoint(const TrialAssignment& a, std::vector<Execution>* runs) {
  const std::string& path = a.resume_checkpoint_path;
  if (path.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "start_epoch is ", a.start_epoch, " but the assignment has no resume checkpoint"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("resume checkpoint ", path, " not found"));
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](const std::string& why) {
    return absl::FailedPreconditionError(
        absl::StrCat("resume checkpoint ", path, " is not a synthetic checkpoint: ", why));
  };
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  try {
    if (doc.value("trainer", "") != "synthetic") return bad("trainer is not \"synthetic\"");
    const int64_t trial_id = doc.at("trial_id").get<int64_t>();
    const int epoch = doc.at("epoch").get<int>();
    const uint64_t seed = doc.at("seed").get<uint64_t>();
    const nlohmann::json& executions = doc.at("executions");
    if (trial_id != a.trial_id) {
      return absl::FailedPreconditionError(absl::StrCat("resume checkpoint is of trial ",
                                                        trial_id, ", not trial ", a.trial_id));
    }
    if (epoch != a.start_epoch) {
      return absl::FailedPreconditionError(absl::StrCat("resume checkpoint is at epoch ", epoch,
                                                        " but start_epoch is ", a.start_epoch));
    }
    if (seed != a.seed) {
      return absl::FailedPreconditionError(
          absl::StrCat("resume checkpoint has seed ", seed, " but the trial's seed is ", a.seed));
    }
    if (!executions.is_array() || static_cast<int>(executions.size()) != a.executions) {
      return absl::FailedPreconditionError(
          absl::StrCat("resume checkpoint has ", executions.is_array() ? executions.size() : 0,
                       " executions but the trial has ", a.executions));
    }
    runs->assign(a.executions, Execution{});
    for (int x = 0; x < a.executions; ++x) {
      Execution& run = (*runs)[x];
      run.values = executions[x].at("values").get<std::vector<double>>();
      run.metrics = executions[x].at("metrics").get<std::map<std::string, double>>();
      if (static_cast<int>(run.values.size()) != epoch) {
        return bad(absl::StrCat("execution ", x, " has ", run.values.size(),
                                " values for epoch ", epoch));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
  return absl::OkStatus();
}

absl::Status WriteCheckpoint(const TrialAssignment& a, int epoch,
                             const std::vector<Execution>& runs) {
  nlohmann::json executions = nlohmann::json::array();
  for (const Execution& run : runs) {
    executions.push_back({{"values", run.values}, {"metrics", run.metrics}});
  }
  const nlohmann::json doc = {{"trainer", "synthetic"}, {"trial_id", a.trial_id},
                              {"seed", a.seed},         {"epoch", epoch},
                              {"executions", executions}};
  return WriteFileAtomically(a.checkpoint_out_path, doc.dump());
}

// Sleeps in small slices; false when a stop was requested meanwhile.
bool SleepUnlessStopped(double seconds, const TrialContext& context) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    if (context.StopRequested()) return false;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(20), end - Clock::now()));
  }
  return !context.StopRequested();
}

}  // namespace

std::map<std::string, double> SyntheticMetrics(const search::Params& params, int epoch,
                                               uint64_t seed, double noise) {
  const uint64_t hash = ParamsHash(params);
  const Curve curve = CurveFor(params, hash);
  const double clean = curve.asymptote * (1 - std::exp(-epoch / curve.tau));
  double v = clean;
  if (noise > 0) v += noise * Normal(seed, epoch, hash);
  v = std::clamp(v, 0.0, 1.0);
  const std::optional<double> lr = Numeric(params, "learning_rate");
  return {{"val_accuracy", v},
          {"val_loss", 1 - v},
          {"train_loss", std::max(0.0, 0.95 * (1 - clean))},
          {"lr", lr ? *lr : 1e-3}};
}

absl::StatusOr<TrainResult> SyntheticTrainer::Train(const TrialAssignment& a,
                                                    TrialContext& context) {
  absl::StatusOr<SyntheticConfig> config = ParseSyntheticConfig(a.trainer_config);
  if (!config.ok()) return config.status();
  if (absl::Status s = CheckObjectiveMetric("synthetic", a.objective_metric); !s.ok()) return s;
  if (a.budget_epochs < 1) return absl::InvalidArgumentError("budget_epochs: must be >= 1");
  if (a.executions < 1) return absl::InvalidArgumentError("executions: must be >= 1");
  if (a.start_epoch < 0 || a.start_epoch >= a.budget_epochs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start_epoch: must be in [0, budget_epochs) = [0, ", a.budget_epochs, ")"));
  }

  std::vector<Execution> runs(a.executions);
  if (a.start_epoch > 0) {
    if (auto s = LoadCheckpoint(a, &runs); !s.ok()) return s;
  }

  const uint64_t hash = ParamsHash(a.params);
  std::optional<int> fail_epoch;
  if (config->fail_probability > 0 &&
      Unit(SplitMix64(hash ^ SplitMix64(a.seed ^ 0x5fa11ull))) < config->fail_probability) {
    fail_epoch = a.start_epoch + 1 +
                 static_cast<int>(SplitMix64(hash + a.seed) %
                                  static_cast<uint64_t>(a.budget_epochs - a.start_epoch));
  }

  int completed = a.start_epoch;  // every execution finished this epoch
  bool stopped = false;
  for (int epoch = a.start_epoch + 1; epoch <= a.budget_epochs && !stopped; ++epoch) {
    if (config->nan_at_epoch && *config->nan_at_epoch == epoch) {
      return absl::FailedPreconditionError(absl::StrCat("loss became NaN at epoch ", epoch));
    }
    if (fail_epoch && *fail_epoch == epoch) {
      return absl::UnavailableError(
          absl::StrCat("synthetic failure at epoch ", epoch, " (trainer.fail_probability ",
                       config->fail_probability, ")"));
    }
    // An epoch counts only once every execution finished it.
    std::vector<EpochReport> staged;
    for (int x = 0; x < a.executions; ++x) {
      if (!SleepUnlessStopped(config->sleep_seconds, context)) {
        stopped = true;
        break;
      }
      EpochReport report;
      report.execution = x;
      report.epoch = epoch;
      report.metrics = SyntheticMetrics(a.params, epoch, a.seed + x, config->noise);
      report.value = report.metrics.at(a.objective_metric);
      staged.push_back(report);
      if (!context.ReportEpoch(report)) {
        stopped = true;
        break;
      }
    }
    if (static_cast<int>(staged.size()) == a.executions) {
      for (int x = 0; x < a.executions; ++x) {
        runs[x].values.push_back(staged[x].value);
        runs[x].metrics = staged[x].metrics;
      }
      completed = epoch;
    }
  }

  TrainResult result;
  result.epochs_done = completed;
  result.stopped = completed < a.budget_epochs;
  if (completed > 0) {
    for (int x = 0; x < a.executions; ++x) {
      // Keras Tuner's rule: each execution counts with its best epoch (reduce: last, its last).
      const std::vector<double>& values = runs[x].values;
      size_t at = values.size() - 1;
      if (!a.reduce_last) {
        at = 0;
        for (size_t e = 1; e < values.size(); ++e) {
          if (a.maximize ? values[e] > values[at] : values[e] < values[at]) at = e;
        }
      }
      result.value += values[at] / a.executions;
      const std::map<std::string, double> metrics =
          at + 1 == values.size()
              ? runs[x].metrics
              : SyntheticMetrics(a.params, static_cast<int>(at) + 1, a.seed + x, config->noise);
      for (const auto& [name, value] : metrics) result.metrics[name] += value / a.executions;
    }
    if (!a.checkpoint_out_path.empty()) {
      if (auto s = WriteCheckpoint(a, completed, runs); !s.ok()) return s;
      result.checkpoint_written = true;
    }
  }
  return result;
}

}  // namespace tuner::worker
