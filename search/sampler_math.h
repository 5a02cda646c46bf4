// Arithmetic the model-based samplers share (TPE, GP): draws from the generator's raw output
// (never <random>'s distributions, so a seed gives the same params on every standard library),
// the normal distribution, and a numeric param seen as an interval of the real line.
#ifndef TUNER_SEARCH_SAMPLER_MATH_H_
#define TUNER_SEARCH_SAMPLER_MATH_H_

#include <random>
#include <vector>

#include "search/space.h"

namespace tuner::search {

double Uniform01(std::mt19937_64& rng);       // [0, 1), 53 bits
double StandardNormal(std::mt19937_64& rng);  // Box-Muller, one draw
double NormalCdf(double z);
double NormalLogPdf(double z);                // log of the standard normal density
// log(Phi(b) - Phi(a)) for a < b, accurate in both tails.
double LogNormalMass(double a, double b);
double LogSumExp(const std::vector<double>& terms);
// int64 or double as a double; NaN for a string.
double AsNumber(const ParamValue& value);

// A numeric param in the space the models work in: log(x) for log ranges, x otherwise. Ints
// and stepped ranges are cells of width `step` around their grid points, so [lo, hi] is the
// range widened by half a cell at each end (for a log int: [log(min - 0.5), log(max + 0.5)]).
struct NumericDomain {
  explicit NumericDomain(const ParamSpec& spec);
  double ToInternal(double value) const;
  // The param value nearest to internal point x, on the grid, inside [min, max].
  ParamValue Snap(double x) const;
  // The internal interval of a value's cell (discrete), or [x, x] (continuous).
  void Cell(const ParamValue& value, double* a, double* b) const;

  const ParamSpec& spec;
  bool discrete = false;
  double lo = 0, hi = 0;
};

}  // namespace tuner::search

#endif  // TUNER_SEARCH_SAMPLER_MATH_H_
