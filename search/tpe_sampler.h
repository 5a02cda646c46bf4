// TPE, the tree-structured Parzen estimator (Bergstra, Bardenet, Bengio, Kegl, NeurIPS 2011),
// built the way Optuna 3.1's TPESampler builds it (optuna/samplers/_tpe/), with its
// multivariate mode (Falkner et al., ICML 2018) and constant liar. Pure: observations in,
// params out, the generator passed in.
#ifndef TUNER_SEARCH_TPE_SAMPLER_H_
#define TUNER_SEARCH_TPE_SAMPLER_H_

#include <random>
#include <vector>

#include "search/sampler.h"
#include "search/space.h"
#include "search/study_spec.h"

namespace tuner::search {

// While fewer than max(1, spec.n_startup_trials) observations are finished (COMPLETED or
// PRUNED; running ones do not count): SampleParams (the random sampler, same draws).
//
// Then the observations are ranked: COMPLETED by value; then PRUNED, a later last epoch first,
// then by value; then running ones (only with spec.constant_liar: a running trial is a bad
// observation for now, so parallel workers do not all sample the region of the best one).
// The first n_below = min(ceil(spec.gamma * n), 25) of them (n: the finished ones) form l(x),
// the rest g(x). Each side's observations, in trial order, weigh 1, except that past 25 the
// oldest ramp down linearly from 1/k (k observations) to 1; the prior weighs
// spec.prior_weight.
//
// A Parzen estimator mixes one kernel per observation plus the prior:
//   float / int: a normal truncated to the param's range (log space for log: true; ints and
//     stepped ranges widened by half a step, scored by the probability of the grid point's
//     cell). Univariate: sigma is the larger gap to its sorted neighbours, the prior's middle
//     point counting as one (consider_endpoints: false measures the outermost points only
//     inward); multivariate: spec.bandwidth * k^(-1/(d + 4)) * range for d params of the group. Clipped
//     to [range / min(100, k + 2), range]. The prior: middle of the range, sigma = range.
//   choice of K values: observation i's kernel puts (1 + w/(k+1)) on its value and w/(k+1) on
//     each other (w = spec.prior_weight), normalised; the prior is uniform.
//
// Univariate (spec.multivariate false): each param is sampled on its own from the
// observations that have it. Multivariate: the params are sampled in groups, jointly (one
// kernel for all params of a group): first the params without a condition, then those whose
// condition the values chosen so far make true, and so on, each group modelled on the
// observations that have all of its params. Either way n_ei_candidates draws from l(x) and
// the one with the largest log l(x) - log g(x) is taken (ties: the first drawn). Inactive
// params are dropped.
// The l(x) / g(x) split described above: indices into `observations`, each side in trial
// order; `finished` counts the COMPLETED and PRUNED ones with a finite value.
struct TpeSplit {
  std::vector<size_t> below, above;
  size_t finished = 0;
};
TpeSplit SplitObservations(const SamplerSpec& spec, bool maximize,
                           const std::vector<Observation>& observations);

Params TpeSample(const SearchSpace& space, const SamplerSpec& spec, bool maximize,
                 const std::vector<Observation>& observations, std::mt19937_64& rng);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_TPE_SAMPLER_H_
