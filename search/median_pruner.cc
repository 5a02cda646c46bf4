#include "search/median_pruner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

namespace tuner::search {
namespace {

// The value `execution` of `trial` reported at `epoch`, if any (a history without
// per-execution values counts its intermediate values as execution 0's).
std::optional<double> ExecutionValue(const TrialRecord& trial, int execution, int epoch) {
  if (trial.execution_values.empty()) {
    if (execution != 0) return std::nullopt;
    auto it = trial.intermediate.find(epoch);
    if (it == trial.intermediate.end()) return std::nullopt;
    return it->second;
  }
  auto it = trial.execution_values.find({execution, epoch});
  if (it == trial.execution_values.end()) return std::nullopt;
  return it->second;
}

// epoch -> value of one execution of a trial (the judged trial's own curve).
std::map<int, double> ExecutionCurve(const TrialRecord& trial, int execution) {
  if (trial.execution_values.empty()) {
    return execution == 0 ? trial.intermediate : std::map<int, double>{};
  }
  std::map<int, double> curve;
  for (const auto& [key, value] : trial.execution_values) {
    if (key.first == execution) curve[key.second] = value;
  }
  return curve;
}

// Optuna's _is_first_in_interval_step: no earlier report at or past the last judging epoch.
bool FirstInInterval(int epoch, const std::map<int, double>& curve, int warmup, int interval) {
  const int judging = (epoch - warmup) / interval * interval + warmup;
  int previous = -1;
  for (const auto& [e, value] : curve) {
    if (e < epoch) previous = e;
  }
  return previous < judging;
}

}  // namespace

PruneDecision DecidePrune(const PrunerSpec& spec, bool maximize,
                          const std::vector<TrialRecord>& history, int64_t number, int execution,
                          int epoch) {
  PruneDecision decision;
  if (spec.kind != PrunerKind::kMedian) return decision;
  if (number < 0 || number >= static_cast<int64_t>(history.size())) return decision;
  const std::map<int, double> own = ExecutionCurve(history[number], execution);
  if (own.find(epoch) == own.end()) return decision;
  decision.value = own.at(epoch);
  // The best so far: epochs up to this one (a re-leased attempt may have left later ones).
  for (const auto& [e, value] : own) {
    if (e <= epoch && Better(value, decision.value, maximize)) decision.value = value;
  }

  int completed = 0;
  std::vector<double> references;
  for (const TrialRecord& other : history) {
    if (other.number == number || other.state != TrialState::kCompleted) continue;
    ++completed;
    const std::optional<double> value = ExecutionValue(other, execution, epoch);
    if (value && std::isfinite(*value)) references.push_back(*value);
  }
  decision.references = static_cast<int>(references.size());
  if (completed == 0 || completed < spec.n_startup_trials) return decision;
  if (epoch < spec.n_warmup_epochs) return decision;
  if (!FirstInInterval(epoch, own, spec.n_warmup_epochs, std::max(1, spec.interval_epochs))) {
    return decision;
  }
  if (references.empty()) return decision;
  std::sort(references.begin(), references.end());
  const size_t mid = references.size() / 2;
  decision.median =
      references.size() % 2 == 1 ? references[mid] : (references[mid - 1] + references[mid]) / 2;
  decision.prune = Better(decision.median, decision.value, maximize);
  return decision;
}

}  // namespace tuner::search
