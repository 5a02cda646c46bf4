// TPE: the l(x) / g(x) split, the Parzen estimators and the choice among candidates.
#include "search/tpe_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <string>

#include "search/sampler_math.h"

namespace tuner::search {
namespace {

constexpr int kMaxBelow = 25;    // l(x) never has more observations than this
constexpr int kFlatWeights = 25; // the newest observations that keep weight 1

// Weights of k observations in trial order: 1 each, the oldest k - 25 ramping from 1/k up.
std::vector<double> ObservationWeights(size_t k) {
  std::vector<double> w(k, 1.0);
  if (k < static_cast<size_t>(kFlatWeights)) return w;
  const size_t ramp = k - kFlatWeights;
  for (size_t i = 0; i < ramp; ++i) {
    const double at = ramp == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(ramp - 1);
    w[i] = 1.0 / static_cast<double>(k) + at * (1.0 - 1.0 / static_cast<double>(k));
  }
  return w;
}

// One param of a group, as its estimator sees it.
struct Dimension {
  const ParamSpec* spec = nullptr;
  std::optional<NumericDomain> domain;  // numeric params
  // Per kernel (observations, then the prior): numeric mu and sigma, or choice probabilities.
  std::vector<double> mus, sigmas, log_norms;
  std::vector<std::vector<double>> probabilities;
};

// A mixture over the params of one group: kernel i is observation i (or the prior, last).
class ParzenEstimator {
 public:
  ParzenEstimator(const std::vector<const ParamSpec*>& group,
                  const std::vector<const Params*>& points, const SamplerSpec& spec) {
    const size_t k = points.size();
    weights_ = ObservationWeights(k);
    weights_.push_back(spec.prior_weight > 0 ? spec.prior_weight : 1.0);
    const double total = std::accumulate(weights_.begin(), weights_.end(), 0.0);
    for (double& w : weights_) w /= total;
    for (const ParamSpec* param : group) {
      Dimension dim;
      dim.spec = param;
      if (param->kind == ParamKind::kChoice) {
        BuildChoice(dim, points, spec);
      } else {
        dim.domain.emplace(*param);
        BuildNumeric(dim, points, spec, group.size());
      }
      dims_.push_back(std::move(dim));
    }
  }

  // One draw: a kernel by weight, then each param from that kernel.
  Params Sample(std::mt19937_64& rng) const {
    double u = Uniform01(rng);
    size_t kernel = 0;
    while (kernel + 1 < weights_.size() && u >= weights_[kernel]) u -= weights_[kernel++];
    Params out;
    for (const Dimension& dim : dims_) {
      if (!dim.domain) {
        const std::vector<double>& p = dim.probabilities[kernel];
        double v = Uniform01(rng);
        size_t index = 0;
        while (index + 1 < p.size() && v >= p[index]) v -= p[index++];
        out[dim.spec->name] = dim.spec->values[index];
        continue;
      }
      const NumericDomain& domain = *dim.domain;
      double x = std::clamp(dim.mus[kernel], domain.lo, domain.hi);
      for (int attempt = 0; attempt < 100; ++attempt) {
        const double draw = dim.mus[kernel] + dim.sigmas[kernel] * StandardNormal(rng);
        if (draw >= domain.lo && draw <= domain.hi) {
          x = draw;
          break;
        }
      }
      out[dim.spec->name] = domain.Snap(x);
    }
    return out;
  }

  // log density (continuous params) or probability (discrete ones) of a configuration.
  double LogPdf(const Params& params) const {
    std::vector<double> terms(weights_.size());
    for (size_t i = 0; i < weights_.size(); ++i) terms[i] = std::log(weights_[i]);
    for (const Dimension& dim : dims_) {
      const ParamValue& value = params.at(dim.spec->name);
      if (!dim.domain) {
        const size_t index = static_cast<size_t>(
            std::find(dim.spec->values.begin(), dim.spec->values.end(), value) -
            dim.spec->values.begin());
        for (size_t i = 0; i < terms.size(); ++i) terms[i] += std::log(dim.probabilities[i][index]);
        continue;
      }
      double a, b;
      dim.domain->Cell(value, &a, &b);
      for (size_t i = 0; i < terms.size(); ++i) {
        const double mu = dim.mus[i], sigma = dim.sigmas[i];
        const double log_p = dim.domain->discrete
                                 ? LogNormalMass((a - mu) / sigma, (b - mu) / sigma)
                                 : NormalLogPdf((a - mu) / sigma) - std::log(sigma);
        terms[i] += log_p - dim.log_norms[i];
      }
    }
    return LogSumExp(terms);
  }

 private:
  void BuildChoice(Dimension& dim, const std::vector<const Params*>& points,
                   const SamplerSpec& spec) const {
    const size_t n_values = dim.spec->values.size();
    const double prior = spec.prior_weight / static_cast<double>(points.size() + 1);
    for (const Params* p : points) {
      std::vector<double> row(n_values, prior);
      const auto at = std::find(dim.spec->values.begin(), dim.spec->values.end(),
                                p->at(dim.spec->name));
      row[static_cast<size_t>(at - dim.spec->values.begin())] += 1.0;
      const double sum = std::accumulate(row.begin(), row.end(), 0.0);
      for (double& x : row) x /= sum;
      dim.probabilities.push_back(std::move(row));
    }
    dim.probabilities.emplace_back(n_values, 1.0 / static_cast<double>(n_values));
  }

  void BuildNumeric(Dimension& dim, const std::vector<const Params*>& points,
                    const SamplerSpec& spec, size_t group_size) const {
    const NumericDomain& domain = *dim.domain;
    const double range = domain.hi - domain.lo;
    const double prior_mu = (domain.lo + domain.hi) / 2;
    for (const Params* p : points) dim.mus.push_back(domain.ToInternal(AsNumber(p->at(dim.spec->name))));
    dim.mus.push_back(prior_mu);
    const size_t n = dim.mus.size();  // observations + the prior
    dim.sigmas.assign(n, range);
    if (spec.multivariate) {
      const double k = static_cast<double>(std::max<size_t>(points.size(), 1));
      const double sigma0 = 0.2 * std::pow(k, -1.0 / (static_cast<double>(group_size) + 4));
      std::fill(dim.sigmas.begin(), dim.sigmas.end(), sigma0 * range);
    } else {
      // The larger gap to the sorted neighbours, the prior's point among them and the range's
      // ends counting as neighbours (the outermost points look inward only unless
      // consider_endpoints).
      std::vector<size_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return dim.mus[a] < dim.mus[b]; });
      std::vector<double> sorted{domain.lo};
      for (size_t i : order) sorted.push_back(dim.mus[i]);
      sorted.push_back(domain.hi);
      std::vector<double> gaps(n);
      for (size_t j = 0; j < n; ++j) {
        gaps[j] = std::max(sorted[j + 1] - sorted[j], sorted[j + 2] - sorted[j + 1]);
      }
      if (!spec.consider_endpoints && sorted.size() >= 4) {
        gaps[0] = sorted[2] - sorted[1];
        gaps[n - 1] = sorted[n] - sorted[n - 1];
      }
      for (size_t j = 0; j < n; ++j) dim.sigmas[order[j]] = gaps[j];
    }
    const double min_sigma = range / std::min(100.0, 1.0 + static_cast<double>(n));
    for (double& s : dim.sigmas) s = std::clamp(s, min_sigma, range);
    dim.sigmas[n - 1] = range;  // the prior
    for (size_t i = 0; i < n; ++i) {
      dim.log_norms.push_back(LogNormalMass((domain.lo - dim.mus[i]) / dim.sigmas[i],
                                            (domain.hi - dim.mus[i]) / dim.sigmas[i]));
    }
  }

  std::vector<double> weights_;  // normalised, the prior last
  std::vector<Dimension> dims_;
};

bool HasAll(const Params& params, const std::vector<const ParamSpec*>& group) {
  for (const ParamSpec* p : group) {
    auto it = params.find(p->name);
    if (it == params.end()) return false;
    if (p->kind == ParamKind::kChoice) {
      if (std::find(p->values.begin(), p->values.end(), it->second) == p->values.end()) {
        return false;
      }
    } else {
      const double v = AsNumber(it->second);
      if (!std::isfinite(v) || v < p->min || v > p->max) return false;
    }
  }
  return true;
}

std::vector<const Params*> WithGroup(const std::vector<const Observation*>& side,
                                     const std::vector<const ParamSpec*>& group) {
  std::vector<const Params*> out;
  for (const Observation* o : side) {
    if (HasAll(o->params, group)) out.push_back(&o->params);
  }
  return out;
}

// Samples the params of `group` jointly: the best of n_ei_candidates draws from l(x).
Params SampleGroup(const std::vector<const ParamSpec*>& group,
                   const std::vector<const Observation*>& below,
                   const std::vector<const Observation*>& above, const SamplerSpec& spec,
                   std::mt19937_64& rng) {
  const ParzenEstimator l(group, WithGroup(below, group), spec);
  const ParzenEstimator g(group, WithGroup(above, group), spec);
  Params best;
  double best_score = -std::numeric_limits<double>::infinity();
  const int candidates = std::max(1, spec.n_ei_candidates);
  for (int c = 0; c < candidates; ++c) {
    Params candidate = l.Sample(rng);
    const double score = l.LogPdf(candidate) - g.LogPdf(candidate);
    if (c == 0 || score > best_score) {
      best = std::move(candidate);
      best_score = score;
    }
  }
  return best;
}

ParamValue FixedValue(const ParamSpec& param) {
  return param.kind == ParamKind::kInt ? ParamValue(static_cast<int64_t>(param.min))
                                       : ParamValue(param.min);
}

// Rank key: COMPLETED (0) by value, PRUNED (1) later epoch first then by value, running (2).
struct Ranked {
  int group;
  double step_key;
  double value_key;  // smaller is better
  size_t order;      // position in the observations (trial order)
};

}  // namespace

Params TpeSample(const SearchSpace& space, const SamplerSpec& spec, bool maximize,
                 const std::vector<Observation>& observations, std::mt19937_64& rng) {
  std::vector<Ranked> ranked;
  size_t finished = 0;
  for (size_t i = 0; i < observations.size(); ++i) {
    const Observation& o = observations[i];
    if (o.running) {
      if (spec.constant_liar) ranked.push_back({2, 0, 0, i});
      continue;
    }
    if (!std::isfinite(o.value)) continue;
    ++finished;
    const double value_key = maximize ? -o.value : o.value;
    ranked.push_back({o.pruned ? 1 : 0, o.pruned ? -static_cast<double>(o.step) : 0, value_key, i});
  }
  if (finished < static_cast<size_t>(std::max(1, spec.n_startup_trials))) {
    return SampleParams(space, rng);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.group != b.group) return a.group < b.group;
    if (a.step_key != b.step_key) return a.step_key < b.step_key;
    return a.value_key < b.value_key;
  });
  const size_t n_below = std::min<size_t>(
      {finished, static_cast<size_t>(kMaxBelow),
       static_cast<size_t>(std::ceil(spec.gamma * static_cast<double>(finished) - 1e-9))});
  std::vector<size_t> below_at, above_at;
  for (size_t j = 0; j < ranked.size(); ++j) {
    (j < std::max<size_t>(n_below, 1) ? below_at : above_at).push_back(ranked[j].order);
  }
  std::sort(below_at.begin(), below_at.end());
  std::sort(above_at.begin(), above_at.end());
  std::vector<const Observation*> below, above;
  for (size_t i : below_at) below.push_back(&observations[i]);
  for (size_t i : above_at) above.push_back(&observations[i]);

  Params params;
  std::set<std::string> done;
  for (const ParamSpec& param : space.params) {
    if (param.kind != ParamKind::kChoice && param.min == param.max) {
      params[param.name] = FixedValue(param);
      done.insert(param.name);
    }
  }
  if (!spec.multivariate) {
    for (const ParamSpec& param : space.params) {
      if (done.count(param.name)) continue;
      Params one = SampleGroup({&param}, below, above, spec, rng);
      params[param.name] = one.at(param.name);
    }
    return ActiveOnly(space, std::move(params));
  }
  // Groups: the params active given what was chosen so far, until none is left.
  for (;;) {
    std::vector<const ParamSpec*> group;
    for (const ParamSpec& param : space.params) {
      if (done.count(param.name) == 0 && IsActive(space, param, params)) group.push_back(&param);
    }
    if (group.empty()) break;
    Params chosen = SampleGroup(group, below, above, spec, rng);
    for (const ParamSpec* param : group) {
      params[param->name] = chosen.at(param->name);
      done.insert(param->name);
    }
  }
  return ActiveOnly(space, std::move(params));
}

}  // namespace tuner::search
