// TPE, the tree-structured Parzen estimator (Bergstra, Bardenet, Bengio, Kegl, NeurIPS 2011),
// univariate like Optuna's default: each param is chosen on its own. Pure: observations in,
// params out, the generator passed in.
#ifndef TUNER_SEARCH_TPE_SAMPLER_H_
#define TUNER_SEARCH_TPE_SAMPLER_H_

#include <random>
#include <vector>

#include "search/sampler.h"
#include "search/space.h"
#include "search/study_spec.h"

namespace tuner::search {

// While there are fewer than max(1, spec.n_startup_trials) observations (pruned ones count),
// or none that was not pruned: SampleParams (the random sampler, same draws). Then the n
// not-pruned observations are ranked (ties: the earlier one first) and the best
// n_below = max(1, ceil(gamma * n)) form l(x); the rest, and every pruned observation, form
// g(x). This is the paper's quantile split (Optuna's default
// gamma is min(ceil(0.1 n), 25) instead). For each param, n_ei_candidates values are drawn
// from l(x) and the one with the largest log l(x) - log g(x) is taken (ties: the first drawn).
//   float / int: a Gaussian mixture truncated to the range, in log space for log: true, one
//     component per observation (sigma: the larger gap to its sorted neighbours, the range's
//     ends counting as neighbours, clipped to [range / min(100, n + 1), range]) plus a prior
//     component (the middle of the range, sigma = range), all weighted equally. Ints and
//     stepped ranges are snapped to their grid and scored by the probability of the grid
//     point's cell (the range widened by half a step at each end).
//   choice: a categorical with p(value) = (count + 1/K) / (n + 1), K values, n observations.
Params TpeSample(const SearchSpace& space, const SamplerSpec& spec, bool maximize,
                 const std::vector<Observation>& observations, std::mt19937_64& rng);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_TPE_SAMPLER_H_
