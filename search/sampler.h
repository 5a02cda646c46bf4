// Samplers: how a new configuration's params are chosen (random, or TPE learning from the
// trials that have a value). Pure: the history comes in as data, the generator is passed in.
#ifndef TUNER_SEARCH_SAMPLER_H_
#define TUNER_SEARCH_SAMPLER_H_

#include <random>
#include <vector>

#include "search/policy.h"
#include "search/space.h"
#include "search/study_spec.h"

namespace tuner::search {

// One configuration with a value a sampler may learn from. A pruned one was stopped as worse
// than its peers: TPE counts it among the bad configurations whatever its value.
struct Observation {
  Params params;
  double value = 0;
  bool pruned = false;
};

// The COMPLETED and PRUNED trials of a history that have a finite value, in trial order.
std::vector<Observation> FinishedObservations(const std::vector<TrialRecord>& history);

// A new configuration from spec.kind's sampler: SampleParams for random, TpeSample for tpe.
Params SampleWith(const SamplerSpec& spec, const SearchSpace& space, bool maximize,
                  const std::vector<Observation>& observations, std::mt19937_64& rng);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_SAMPLER_H_
