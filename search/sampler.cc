#include "search/sampler.h"

#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "search/gp_sampler.h"
#include "search/tpe_sampler.h"

namespace tuner::search {
namespace {

constexpr int kRedraws = 8;  // new draws when a model proposes a configuration already tried

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
      observations.push_back(Observation::Running(trial.params));
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
      running.push_back(Observation::Running(trial.params));
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
  if (spec.kind == SamplerKind::kRandom) return SampleParams(space, rng);
  const auto sample = [&]() {
    return spec.kind == SamplerKind::kGp ? GpSample(space, spec, maximize, observations, rng)
                                         : TpeSample(space, spec, maximize, observations, rng);
  };
  // In a space of choices and grids a model keeps proposing its favourite configuration; a
  // repeat teaches it nothing. Draw again (the same stream, so still deterministic) a few
  // times before accepting one.
  Params params = sample();
  const auto seen = [&](const Params& p) {
    for (const Observation& o : observations) {
      if (o.params == p) return true;
    }
    return false;
  };
  for (int attempt = 0; attempt < kRedraws && seen(params); ++attempt) params = sample();
  // The model wants nothing but tried configurations: an untried random one, if one turns up.
  for (int attempt = 0; attempt < kRedraws && seen(params); ++attempt) {
    Params random = SampleParams(space, rng);
    if (!seen(random)) return random;
  }
  return params;
}

}  // namespace tuner::search
