// The Parzen estimator of TPE (see search/tpe_sampler.h for the rules): a mixture with one
// kernel per observation plus the prior, over the params of one group. Pure data and
// arithmetic; separate from the sampler so its kernels can be compared with Optuna's.
#ifndef TUNER_SEARCH_PARZEN_ESTIMATOR_H_
#define TUNER_SEARCH_PARZEN_ESTIMATOR_H_

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "search/sampler_math.h"
#include "search/space.h"
#include "search/study_spec.h"

namespace tuner::search {

// Weights of k observations in trial order: 1 each, except that past 25 the oldest k - 25
// ramp linearly from 1/k up to 1 (Optuna's default_weights).
std::vector<double> ObservationWeights(size_t k);

// Immutable after construction; `group`'s ParamSpecs must outlive it.
class ParzenEstimator {
 public:
  // One param of the group. Per kernel (observations in the given order, then the prior):
  // numeric params have mus / sigmas in the internal space (NumericDomain), choices a
  // probability per value.
  struct Dimension {
    const ParamSpec* spec = nullptr;
    std::optional<NumericDomain> domain;  // numeric params only
    std::vector<double> mus, sigmas, log_norms;
    std::vector<std::vector<double>> probabilities;
  };

  // `points` must all have every param of `group` with a value inside its range.
  ParzenEstimator(const std::vector<const ParamSpec*>& group,
                  const std::vector<const Params*>& points, const SamplerSpec& spec);

  // One draw: a kernel by weight, then each param from that kernel.
  Params Sample(std::mt19937_64& rng) const;
  // log density (continuous params) or log probability (discrete ones) of a configuration
  // that has every param of the group.
  double LogPdf(const Params& params) const;

  const std::vector<double>& weights() const { return weights_; }  // normalised, prior last
  const std::vector<Dimension>& dimensions() const { return dims_; }

 private:
  void BuildChoice(Dimension& dim, const std::vector<const Params*>& points,
                   const SamplerSpec& spec) const;
  void BuildNumeric(Dimension& dim, const std::vector<const Params*>& points,
                    const SamplerSpec& spec, size_t group_size) const;

  std::vector<double> weights_;
  std::vector<Dimension> dims_;
};

}  // namespace tuner::search

#endif  // TUNER_SEARCH_PARZEN_ESTIMATOR_H_
