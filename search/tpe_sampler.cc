// TPE: Parzen estimators per param and the l(x) / g(x) choice. Like space.cc, all randomness
// goes through our own arithmetic on the generator's raw output, never <random>'s
// distributions, so a seed gives the same params on every standard library.
#include "search/tpe_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

namespace tuner::search {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kTiny = 1e-300;

double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double StandardNormal(std::mt19937_64& rng) {
  const double u1 = 1.0 - Uniform01(rng);  // (0, 1]
  const double u2 = Uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double LogSumExp(const std::vector<double>& terms) {
  const double top = *std::max_element(terms.begin(), terms.end());
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

double AsNumber(const ParamValue& value) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const double* d = std::get_if<double>(&value)) return *d;
  return std::numeric_limits<double>::quiet_NaN();
}

// A Gaussian mixture truncated to [lo, hi], equal weights, the last component the prior.
class ParzenEstimator {
 public:
  ParzenEstimator(std::vector<double> points, double lo, double hi) : lo_(lo), hi_(hi) {
    const double range = hi - lo;
    std::sort(points.begin(), points.end());
    const double min_sigma = range / std::min(100.0, static_cast<double>(points.size()) + 1.0);
    for (size_t i = 0; i < points.size(); ++i) {
      const double left = points[i] - (i == 0 ? lo : points[i - 1]);
      const double right = (i + 1 == points.size() ? hi : points[i + 1]) - points[i];
      mus_.push_back(points[i]);
      sigmas_.push_back(std::clamp(std::max(left, right), min_sigma, range));
    }
    mus_.push_back((lo + hi) / 2);
    sigmas_.push_back(range);
    for (size_t i = 0; i < mus_.size(); ++i) {
      const double z =
          NormalCdf((hi - mus_[i]) / sigmas_[i]) - NormalCdf((lo - mus_[i]) / sigmas_[i]);
      log_norm_.push_back(std::log(std::max(z, kTiny)));
    }
  }

  double Sample(std::mt19937_64& rng) const {
    const size_t k = std::min(
        mus_.size() - 1, static_cast<size_t>(Uniform01(rng) * static_cast<double>(mus_.size())));
    for (int attempt = 0; attempt < 100; ++attempt) {
      const double x = mus_[k] + sigmas_[k] * StandardNormal(rng);
      if (x >= lo_ && x <= hi_) return x;
    }
    return std::clamp(mus_[k], lo_, hi_);  // only for a component far outside (not reachable)
  }

  // log density at x.
  double LogPdf(double x) const {
    std::vector<double> terms;
    for (size_t i = 0; i < mus_.size(); ++i) {
      const double z = (x - mus_[i]) / sigmas_[i];
      terms.push_back(-0.5 * z * z - std::log(sigmas_[i] * std::sqrt(2 * kPi)) - log_norm_[i]);
    }
    return LogSumExp(terms) - std::log(static_cast<double>(mus_.size()));
  }

  // log probability of [a, b].
  double LogMass(double a, double b) const {
    std::vector<double> terms;
    for (size_t i = 0; i < mus_.size(); ++i) {
      const double mass =
          NormalCdf((b - mus_[i]) / sigmas_[i]) - NormalCdf((a - mus_[i]) / sigmas_[i]);
      terms.push_back(std::log(std::max(mass, kTiny)) - log_norm_[i]);
    }
    return LogSumExp(terms) - std::log(static_cast<double>(mus_.size()));
  }

 private:
  const double lo_, hi_;
  std::vector<double> mus_, sigmas_, log_norm_;
};

// A numeric param in the space the estimators work in: log(x) for log ranges, x otherwise;
// ints and stepped ranges are cells of width `step` around their grid points.
struct NumericDomain {
  explicit NumericDomain(const ParamSpec& spec) : spec(spec) {
    discrete = spec.kind == ParamKind::kInt || spec.step.has_value();
    if (spec.log) {
      lo = std::log(discrete ? spec.min - 0.5 : spec.min);
      hi = std::log(discrete ? spec.max + 0.5 : spec.max);
    } else {
      const double half = discrete ? (spec.step ? *spec.step : 1.0) / 2 : 0.0;
      lo = spec.min - half;
      hi = spec.max + half;
    }
  }

  double ToInternal(double value) const { return spec.log ? std::log(value) : value; }

  // The param value nearest to internal point x.
  ParamValue Snap(double x) const {
    if (spec.log) {
      const double value = std::clamp(std::exp(x), spec.min, spec.max);
      if (spec.kind == ParamKind::kInt) {
        return std::clamp<int64_t>(std::llround(value), static_cast<int64_t>(spec.min),
                                   static_cast<int64_t>(spec.max));
      }
      return value;
    }
    if (!discrete) return std::clamp(x, spec.min, spec.max);
    const double step = spec.step ? *spec.step : 1.0;
    const int64_t index =
        std::clamp<int64_t>(std::llround((x - spec.min) / step), 0, GridSize(spec) - 1);
    return GridValueAt(spec, index);
  }

  // log l or log g at a snapped value: a density for continuous ranges, a cell's mass for
  // discrete ones.
  double Score(const ParzenEstimator& estimator, const ParamValue& value) const {
    const double v = AsNumber(value);
    if (!discrete) return estimator.LogPdf(ToInternal(v));
    if (spec.log) return estimator.LogMass(std::log(v - 0.5), std::log(v + 0.5));
    const double half = (spec.step ? *spec.step : 1.0) / 2;
    return estimator.LogMass(v - half, v + half);
  }

  const ParamSpec& spec;
  bool discrete = false;
  double lo = 0, hi = 0;
};

ParamValue SampleNumeric(const ParamSpec& spec, const std::vector<const Params*>& below,
                         const std::vector<const Params*>& above, int candidates,
                         std::mt19937_64& rng) {
  const NumericDomain domain(spec);
  const auto points = [&](const std::vector<const Params*>& group) {
    std::vector<double> out;
    for (const Params* params : group) {
      auto it = params->find(spec.name);
      if (it == params->end()) continue;
      const double v = AsNumber(it->second);
      if (std::isfinite(v) && v >= spec.min && v <= spec.max) out.push_back(domain.ToInternal(v));
    }
    return out;
  };
  const ParzenEstimator l(points(below), domain.lo, domain.hi);
  const ParzenEstimator g(points(above), domain.lo, domain.hi);
  std::optional<ParamValue> best;
  double best_score = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < candidates; ++c) {
    const ParamValue value = domain.Snap(l.Sample(rng));
    const double score = domain.Score(l, value) - domain.Score(g, value);
    if (!best || score > best_score) {
      best = value;
      best_score = score;
    }
  }
  return *best;
}

ParamValue SampleChoice(const ParamSpec& spec, const std::vector<const Params*>& below,
                        const std::vector<const Params*>& above, int candidates,
                        std::mt19937_64& rng) {
  const size_t k = spec.values.size();
  const auto probabilities = [&](const std::vector<const Params*>& group) {
    std::vector<double> p(k, 1.0 / static_cast<double>(k));
    double total = 1.0;
    for (const Params* params : group) {
      auto it = params->find(spec.name);
      if (it == params->end()) continue;
      auto at = std::find(spec.values.begin(), spec.values.end(), it->second);
      if (at == spec.values.end()) continue;
      p[static_cast<size_t>(at - spec.values.begin())] += 1.0;
      total += 1.0;
    }
    for (double& x : p) x /= total;
    return p;
  };
  const std::vector<double> l = probabilities(below);
  const std::vector<double> g = probabilities(above);
  size_t best = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < candidates; ++c) {
    double u = Uniform01(rng);
    size_t index = 0;
    while (index + 1 < k && u >= l[index]) u -= l[index++];
    const double score = std::log(l[index]) - std::log(g[index]);
    if (score > best_score) {
      best = index;
      best_score = score;
    }
  }
  return spec.values[best];
}

}  // namespace

Params TpeSample(const SearchSpace& space, const SamplerSpec& spec, bool maximize,
                 const std::vector<Observation>& observations, std::mt19937_64& rng) {
  std::vector<const Observation*> ranked;
  std::vector<const Params*> above;
  for (const Observation& o : observations) {
    if (o.pruned) {
      above.push_back(&o.params);
    } else if (std::isfinite(o.value)) {
      ranked.push_back(&o);
    }
  }
  // Pruned trials count towards the startup: with an eager pruner few trials complete.
  if (ranked.empty() ||
      ranked.size() + above.size() < static_cast<size_t>(std::max(1, spec.n_startup_trials))) {
    return SampleParams(space, rng);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [maximize](const Observation* a, const Observation* b) {
                     return Better(a->value, b->value, maximize);
                   });
  const size_t n = ranked.size();
  const size_t n_below = std::min(
      n, std::max<size_t>(1, static_cast<size_t>(std::ceil(spec.gamma * static_cast<double>(n)))));
  std::vector<const Params*> below;
  for (size_t i = 0; i < n; ++i) (i < n_below ? below : above).push_back(&ranked[i]->params);

  Params params;
  const int candidates = std::max(1, spec.n_ei_candidates);
  for (const ParamSpec& param : space.params) {
    if (param.kind == ParamKind::kChoice) {
      params[param.name] = SampleChoice(param, below, above, candidates, rng);
    } else if (param.min == param.max) {
      params[param.name] = param.kind == ParamKind::kInt
                               ? ParamValue(static_cast<int64_t>(param.min))
                               : ParamValue(param.min);
    } else {
      params[param.name] = SampleNumeric(param, below, above, candidates, rng);
    }
  }
  // A conditional param is modelled only on the observations that have it (the Parzen
  // estimators skip the others) and kept only when its condition holds.
  return ActiveOnly(space, std::move(params));
}

}  // namespace tuner::search
