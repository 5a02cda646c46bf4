#include "search/median_pruner.h"

#include <algorithm>
#include <cmath>

namespace tuner::search {

PruneDecision DecidePrune(const PrunerSpec& spec, bool maximize,
                          const std::vector<TrialRecord>& history, int64_t number, int epoch) {
  PruneDecision decision;
  if (spec.kind != PrunerKind::kMedian) return decision;
  if (number < 0 || number >= static_cast<int64_t>(history.size())) return decision;
  const TrialRecord& trial = history[number];
  auto own = trial.intermediate.find(epoch);
  if (own == trial.intermediate.end() || !std::isfinite(own->second)) return decision;
  decision.value = own->second;
  if (epoch <= spec.n_warmup_epochs) return decision;
  // At its last epoch a trial has its final value: stopping it would save nothing.
  if (trial.budget_epochs > 0 && epoch >= trial.budget_epochs) return decision;

  int completed = 0;
  std::vector<double> references;
  for (const TrialRecord& other : history) {
    if (other.number == number || other.state != TrialState::kCompleted) continue;
    ++completed;
    auto it = other.intermediate.find(epoch);
    if (it != other.intermediate.end() && std::isfinite(it->second)) {
      references.push_back(it->second);
    }
  }
  decision.references = static_cast<int>(references.size());
  if (completed < spec.n_startup_trials || references.empty()) return decision;
  std::sort(references.begin(), references.end());
  const size_t mid = references.size() / 2;
  decision.median =
      references.size() % 2 == 1 ? references[mid] : (references[mid - 1] + references[mid]) / 2;
  decision.prune = Better(decision.median, decision.value, maximize);
  return decision;
}

}  // namespace tuner::search
