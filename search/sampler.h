// Samplers: how a new configuration's params are chosen (random; TPE and GP, which learn from
// the trials that have a value). Pure: the history comes in as data, the generator is passed
// in.
#ifndef TUNER_SEARCH_SAMPLER_H_
#define TUNER_SEARCH_SAMPLER_H_

#include <random>
#include <utility>
#include <vector>

#include "search/policy.h"
#include "search/space.h"
#include "search/study_spec.h"

namespace tuner::search {

// One configuration a sampler may learn from. A pruned one was stopped as worse than its
// peers at epoch `step`: TPE ranks it after every COMPLETED one (a later step first). A
// running one (PENDING or RUNNING, no value yet) is what the constant liar pretends is bad.
struct Observation {
  Params params;
  double value = 0;
  bool pruned = false;
  bool running = false;
  int step = 0;  // pruned: the last epoch it reported

  // A PENDING or RUNNING configuration (or one a plan just sampled).
  static Observation Running(Params params) {
    Observation o{std::move(params)};
    o.running = true;
    return o;
  }
};

// The COMPLETED and PRUNED trials of a history that have a finite value, in trial order.
std::vector<Observation> FinishedObservations(const std::vector<TrialRecord>& history);
// FinishedObservations and, as running observations, the PENDING and RUNNING trials; all in
// trial order.
std::vector<Observation> SamplerObservations(const std::vector<TrialRecord>& history);

// BOHB (Falkner, Klein, Hutter, ICML 2018): values are comparable only at the same budget, so
// a model learns from the largest of `rung_epochs` that at least max(1, n_startup_trials)
// trials reached: each one's value at that epoch (its intermediate value when it went on past
// it, its value when it finished there). No finished observation while no rung has enough.
// The PENDING and RUNNING trials come after them as running observations.
std::vector<Observation> BudgetObservations(const std::vector<TrialRecord>& history,
                                            const std::vector<int>& rung_epochs,
                                            int n_startup_trials);

// A new configuration from spec.kind's sampler: SampleParams for random, TpeSample for tpe,
// GpSample for gp. A model's proposal that equals the params of one of `observations` is drawn
// again, up to 8 times, from the same generator (in spaces of choices and grids a repeat is a
// wasted trial); if the model still only repeats, up to 8 random draws look for an untried
// configuration, and the model's proposal stands when none is found.
Params SampleWith(const SamplerSpec& spec, const SearchSpace& space, bool maximize,
                  const std::vector<Observation>& observations, std::mt19937_64& rng);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_SAMPLER_H_
