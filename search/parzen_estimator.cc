#include "search/parzen_estimator.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tuner::search {
namespace {

constexpr int kFlatWeights = 25;  // the newest observations that keep weight 1

}  // namespace

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

ParzenEstimator::ParzenEstimator(const std::vector<const ParamSpec*>& group,
                               const std::vector<const Params*>& points,
                               const SamplerSpec& spec) {
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

Params ParzenEstimator::Sample(std::mt19937_64& rng) const {
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

double ParzenEstimator::LogPdf(const Params& params) const {
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

void ParzenEstimator::BuildChoice(Dimension& dim, const std::vector<const Params*>& points,
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

void ParzenEstimator::BuildNumeric(Dimension& dim, const std::vector<const Params*>& points,
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
    const double sigma0 =
        spec.bandwidth * std::pow(k, -1.0 / (static_cast<double>(group_size) + 4));
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

}  // namespace tuner::search
