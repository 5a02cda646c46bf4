#include "search/sampler_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tuner::search {

namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double StandardNormal(std::mt19937_64& rng) {
  const double u1 = 1.0 - Uniform01(rng);  // (0, 1]
  const double u2 = Uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double NormalLogPdf(double z) { return -0.5 * z * z - 0.5 * std::log(2 * kPi); }

double LogNormalMass(double a, double b) {
  if (!(a < b)) return -std::numeric_limits<double>::infinity();
  if (a > 0) return LogNormalMass(-b, -a);  // the same mass, in the left tail
  if (b > 0) return std::log(NormalCdf(b) - NormalCdf(a));  // contains 0: not tiny
  // Both in the left tail, where erfc keeps its precision: log Phi(b) + log(1 - Phi(a)/Phi(b)).
  const double upper = NormalCdf(b);
  if (upper <= 0) return -745.0;  // below the smallest double: as good as zero
  return std::log(upper) + std::log1p(-NormalCdf(a) / upper);
}

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

NumericDomain::NumericDomain(const ParamSpec& spec) : spec(spec) {
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

double NumericDomain::ToInternal(double value) const { return spec.log ? std::log(value) : value; }

ParamValue NumericDomain::Snap(double x) const {
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

void NumericDomain::Cell(const ParamValue& value, double* a, double* b) const {
  const double v = AsNumber(value);
  if (!discrete) {
    *a = *b = ToInternal(v);
  } else if (spec.log) {
    *a = std::log(v - 0.5);
    *b = std::log(v + 0.5);
  } else {
    const double half = (spec.step ? *spec.step : 1.0) / 2;
    *a = v - half;
    *b = v + half;
  }
}

}  // namespace tuner::search
