// Objective functions shared by the sampler tests (published definitions).
#ifndef TUNER_TESTS_SEARCH_TEST_FUNCTIONS_H_
#define TUNER_TESTS_SEARCH_TEST_FUNCTIONS_H_

#include <cmath>
#include <cstdint>
#include <variant>

#include "search/space.h"

namespace tuner::search::functions {

inline double Number(const ParamValue& value) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  return std::get<double>(value);
}

inline SearchSpace BraninSpace() {
  SearchSpace space;
  space.params.push_back({"x1", ParamKind::kFloat, -5, 10});
  space.params.push_back({"x2", ParamKind::kFloat, 0, 15});
  return space;
}

// Branin-Hoo: minimum 0.397887 at three points.
inline double Branin(const Params& p) {
  const double x1 = Number(p.at("x1")), x2 = Number(p.at("x2"));
  const double pi = 3.14159265358979323846;
  const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
  return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}

}  // namespace tuner::search::functions

#endif  // TUNER_TESTS_SEARCH_TEST_FUNCTIONS_H_
