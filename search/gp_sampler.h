// GP, Bayesian optimisation with a Gaussian process (the model-based search Keras Tuner,
// Vizier and Optuna 4 offer). Pure: observations in, params out, the generator passed in.
#ifndef TUNER_SEARCH_GP_SAMPLER_H_
#define TUNER_SEARCH_GP_SAMPLER_H_

#include <random>
#include <vector>

#include "search/sampler.h"
#include "search/space.h"
#include "search/study_spec.h"

namespace tuner::search {

// While fewer than max(1, spec.n_startup_trials) COMPLETED observations: SampleParams (the
// random sampler, same draws). Pruned observations are left out (their values come from
// earlier epochs than the others').
//
// The model: every param is a coordinate in [0, 1] (floats and ints linearly, log: true ones
// in log space, ints and stepped ranges over their cells, so snapping is rounding), a choice
// of K values is K one-hot coordinates; a param a configuration does not have (a condition)
// sits at 0.5, or at 0 for every coordinate of a choice. Values are turned into a
// minimisation, standardised and warped by the Yeo-Johnson power transform that makes them
// most normal (a few huge values cannot flatten the model). The kernel is Matern-5/2 with one length scale per
// coordinate (ARD), a signal variance and a noise variance, fitted by maximum marginal
// likelihood with L-BFGS (log-normal priors keep them sane on few points), from two starts.
// With spec.constant_liar the PENDING and RUNNING configurations enter the model at its
// posterior mean (the kriging believer): their variance collapses, so parallel workers are
// sent elsewhere.
//
// The next configuration maximises log expected improvement over the best value: the best of
// spec.n_candidates random points and perturbations of the best observations, the five best
// of them then polished by L-BFGS over their numeric coordinates (choices fixed), snapped to
// the params' grids.
Params GpSample(const SearchSpace& space, const SamplerSpec& spec, bool maximize,
                const std::vector<Observation>& observations, std::mt19937_64& rng);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_GP_SAMPLER_H_
