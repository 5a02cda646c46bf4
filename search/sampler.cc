#include "search/sampler.h"

#include <cmath>

#include "search/tpe_sampler.h"

namespace tuner::search {

std::vector<Observation> FinishedObservations(const std::vector<TrialRecord>& history) {
  std::vector<Observation> observations;
  for (const TrialRecord& trial : history) {
    const bool completed = trial.state == TrialState::kCompleted;
    const bool pruned = trial.state == TrialState::kPruned;
    if (!(completed || pruned) || !trial.value || !std::isfinite(*trial.value)) continue;
    observations.push_back({trial.params, *trial.value, pruned});
  }
  return observations;
}

Params SampleWith(const SamplerSpec& spec, const SearchSpace& space, bool maximize,
                  const std::vector<Observation>& observations, std::mt19937_64& rng) {
  if (spec.kind == SamplerKind::kTpe) return TpeSample(space, spec, maximize, observations, rng);
  return SampleParams(space, rng);
}

}  // namespace tuner::search
