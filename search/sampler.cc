#include "search/sampler.h"

#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "search/gp_sampler.h"
#include "search/tpe_sampler.h"

namespace tuner::search {
namespace {

std::vector<Observation> Collect(const std::vector<TrialRecord>& history, bool with_running) {
  std::vector<Observation> observations;
  for (const TrialRecord& trial : history) {
    const bool completed = trial.state == TrialState::kCompleted;
    const bool pruned = trial.state == TrialState::kPruned;
    if (completed || pruned) {
      if (!trial.value || !std::isfinite(*trial.value)) continue;
      Observation o{trial.params, *trial.value, pruned};
      if (pruned && !trial.intermediate.empty()) o.step = trial.intermediate.rbegin()->first;
      observations.push_back(std::move(o));
    } else if (with_running &&
               (trial.state == TrialState::kPending || trial.state == TrialState::kRunning)) {
      Observation o{trial.params};
      o.running = true;
      observations.push_back(std::move(o));
    }
  }
  return observations;
}

}  // namespace

std::vector<Observation> FinishedObservations(const std::vector<TrialRecord>& history) {
  return Collect(history, false);
}

std::vector<Observation> SamplerObservations(const std::vector<TrialRecord>& history) {
  return Collect(history, true);
}

std::vector<Observation> BudgetObservations(const std::vector<TrialRecord>& history,
                                            const std::vector<int>& rung_epochs,
                                            int n_startup_trials) {
  std::map<int, std::vector<Observation>, std::greater<int>> by_epochs;
  std::vector<Observation> running;
  for (const TrialRecord& trial : history) {
    if (trial.state == TrialState::kPending || trial.state == TrialState::kRunning) {
      Observation o{trial.params};
      o.running = true;
      running.push_back(std::move(o));
    }
    const bool finished_rung = trial.state == TrialState::kPaused ||
                               trial.state == TrialState::kCompleted ||
                               trial.state == TrialState::kPruned;
    for (int epochs : rung_epochs) {
      std::optional<double> value;
      if (epochs < trial.budget_epochs) {
        auto it = trial.intermediate.find(epochs);
        if (it != trial.intermediate.end()) value = it->second;
      } else if (epochs == trial.budget_epochs && finished_rung) {
        value = trial.value;
      }
      if (value && std::isfinite(*value)) by_epochs[epochs].push_back({trial.params, *value});
    }
  }
  std::vector<Observation> out;
  for (auto& [epochs, observations] : by_epochs) {
    if (observations.size() >= static_cast<size_t>(std::max(1, n_startup_trials))) {
      out = std::move(observations);
      break;
    }
  }
  out.insert(out.end(), running.begin(), running.end());
  return out;
}

Params SampleWith(const SamplerSpec& spec, const SearchSpace& space, bool maximize,
                  const std::vector<Observation>& observations, std::mt19937_64& rng) {
  switch (spec.kind) {
    case SamplerKind::kTpe:
      return TpeSample(space, spec, maximize, observations, rng);
    case SamplerKind::kGp:
      return GpSample(space, spec, maximize, observations, rng);
    case SamplerKind::kRandom:
      break;
  }
  return SampleParams(space, rng);
}

}  // namespace tuner::search
