// Search space values: printing, grids, sampling and validation of one param.
//
// Sampling maps the generator's raw 64-bit output to values with our own arithmetic instead of
// <random>'s distributions, whose algorithms differ between standard libraries: a study seeded
// 42 must give the same trials on every build.
#include "search/space.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tuner::search {
namespace {

// Ints travel through doubles (ParamSpec::min/max), which are exact up to 2^53.
constexpr double kMaxAbsInt = 9007199254740992.0;
// Beyond this a stepped range is not a grid anyone means; it also keeps counts in int64.
constexpr double kMaxGridPoints = 1e9;

std::string Shortest(double value, std::chars_format format) {
  char buffer[64];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value, format);
  return std::string(buffer, result.ptr);
}

// Rounds to 12 significant digits so that 0.2 + 0.1 prints and compares as 0.3.
double RoundToGrid(double value) {
  char buffer[64];
  const std::to_chars_result printed =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general, 12);
  double rounded = value;
  std::from_chars(buffer, printed.ptr, rounded);
  return rounded;
}

// A uniform double in [0, 1) from the top 53 bits of one draw.
double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// A uniform index in [0, count).
int64_t UniformIndex(std::mt19937_64& rng, int64_t count) {
  const int64_t index = static_cast<int64_t>(Uniform01(rng) * static_cast<double>(count));
  return std::clamp<int64_t>(index, 0, count - 1);
}

bool IsIntegral(double value) { return std::isfinite(value) && std::floor(value) == value; }

// Value number `index` of a stepped range (or an int range, step 1 by default).
ParamValue RangeValueAt(const ParamSpec& spec, int64_t index) {
  if (spec.kind == ParamKind::kInt) {
    const int64_t step = spec.step ? static_cast<int64_t>(*spec.step) : 1;
    return static_cast<int64_t>(spec.min) + index * step;
  }
  return std::min(RoundToGrid(spec.min + static_cast<double>(index) * *spec.step),
                  RoundToGrid(spec.max));
}

ParamValue SampleOne(const ParamSpec& spec, std::mt19937_64& rng) {
  if (spec.kind == ParamKind::kChoice) {
    return spec.values[UniformIndex(rng, static_cast<int64_t>(spec.values.size()))];
  }
  if (spec.step || (spec.kind == ParamKind::kInt && !spec.log)) {
    return RangeValueAt(spec, UniformIndex(rng, GridSize(spec)));
  }
  const double u = Uniform01(rng);
  double value = spec.log
                     ? std::exp(std::log(spec.min) + u * (std::log(spec.max) - std::log(spec.min)))
                     : spec.min + u * (spec.max - spec.min);
  value = std::clamp(value, spec.min, spec.max);
  if (spec.kind == ParamKind::kInt) {
    return std::clamp<int64_t>(std::llround(value), static_cast<int64_t>(spec.min),
                               static_cast<int64_t>(spec.max));
  }
  return value;
}

std::string Got(double value) { return absl::StrCat(" (got ", ParamValueToString(value), ")"); }

absl::Status ValidateRange(const ParamSpec& spec, const std::string& path) {
  const bool is_int = spec.kind == ParamKind::kInt;
  for (const auto& [field, value] : {std::pair{"min", spec.min}, std::pair{"max", spec.max}}) {
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".", field, ": must be a finite number"));
    }
    if (is_int && (!IsIntegral(value) || std::fabs(value) > kMaxAbsInt)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".", field, ": must be an integer with magnitude <= 2^53", Got(value)));
    }
  }
  if (spec.max < spec.min) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".max: must be >= min (", ParamValueToString(spec.min), ")", Got(spec.max)));
  }
  if (spec.log && spec.min <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".min: must be > 0 for a log range", Got(spec.min)));
  }
  if (spec.step) {
    const double step = *spec.step;
    if (spec.log) {
      // A log range's grid would be multiplicative; say so rather than guess.
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".step: cannot be combined with log: true (use a choice list for a log grid)"));
    }
    if (is_int && (!IsIntegral(step) || step < 1 || step > kMaxAbsInt)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".step: must be an integer >= 1", Got(step)));
    }
    if (!std::isfinite(step) || step <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".step: must be > 0", Got(step)));
    }
    if ((spec.max - spec.min) / step >= kMaxGridPoints) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".step: too small for the range (more than 1000000000 values)", Got(step)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateChoice(const ParamSpec& spec, const std::string& path) {
  if (spec.values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ".values: must be a non-empty list"));
  }
  std::set<ParamValue> seen;
  for (const ParamValue& value : spec.values) {
    if (value.index() != spec.values.front().index()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".values: must be all integers, all numbers or all strings"));
    }
    if (const double* number = std::get_if<double>(&value); number && !std::isfinite(*number)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".values: must be finite numbers"));
    }
    if (!seen.insert(value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".values: duplicate value ", ParamValueToString(value)));
    }
  }
  return absl::OkStatus();
}

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

std::string ParamValueToString(const ParamValue& value) {
  if (const int64_t* integer = std::get_if<int64_t>(&value)) return std::to_string(*integer);
  if (const std::string* text = std::get_if<std::string>(&value)) return *text;
  // Floats print like Python's repr(): shortest round trip, fixed notation for exponents in
  // [-4, 16), and always with a '.' or an exponent so that 1.0 does not read as the int 1.
  const double number = std::get<double>(value);
  if (std::isnan(number)) return "nan";
  if (std::isinf(number)) return number > 0 ? "inf" : "-inf";
  const std::string scientific = Shortest(number, std::chars_format::scientific);
  const int exponent = std::stoi(scientific.substr(scientific.find('e') + 1));
  if (exponent < -4 || exponent >= 16) return scientific;
  std::string fixed = Shortest(number, std::chars_format::fixed);
  if (!absl::StrContains(fixed, '.')) fixed += ".0";
  return fixed;
}

int64_t GridSize(const ParamSpec& spec) {
  switch (spec.kind) {
    case ParamKind::kChoice:
      return static_cast<int64_t>(spec.values.size());
    case ParamKind::kInt: {
      const int64_t step = spec.step ? static_cast<int64_t>(*spec.step) : 1;
      return (static_cast<int64_t>(spec.max) - static_cast<int64_t>(spec.min)) / step + 1;
    }
    case ParamKind::kFloat:
      break;
  }
  if (!spec.step) return 0;
  // A relative tolerance so that (0.5 - 0.2) / 0.1 = 2.9999999999999996 still counts 0.5.
  const double quotient = (spec.max - spec.min) / *spec.step;
  return static_cast<int64_t>(std::floor(quotient + 1e-9 * std::max(1.0, quotient))) + 1;
}

std::vector<ParamValue> GridValues(const ParamSpec& spec) {
  if (spec.kind == ParamKind::kChoice) return spec.values;
  const int64_t size = GridSize(spec);
  std::vector<ParamValue> values;
  values.reserve(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) values.push_back(RangeValueAt(spec, i));
  return values;
}

ParamValue GridValueAt(const ParamSpec& spec, int64_t index) { return RangeValueAt(spec, index); }

Params SampleParams(const SearchSpace& space, std::mt19937_64& rng) {
  Params params;
  // One draw per param in the spec's order, so adding a param at the end keeps the others.
  for (const ParamSpec& spec : space.params) params[spec.name] = SampleOne(spec, rng);
  return ActiveOnly(space, std::move(params));
}

std::mt19937_64 TrialRng(uint64_t seed, int64_t number) {
  const uint64_t trial = static_cast<uint64_t>(number);
  std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                         static_cast<uint32_t>(trial), static_cast<uint32_t>(trial >> 32)};
  return std::mt19937_64(sequence);
}

absl::Status ValidateParamSpec(const ParamSpec& spec) {
  const std::string path = absl::StrCat("search_space.", spec.name);
  if (!IsValidName(spec.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": param names must match [A-Za-z_][A-Za-z0-9_]* (at most 64 characters)"));
  }
  if (spec.kind == ParamKind::kChoice) return ValidateChoice(spec, path);
  return ValidateRange(spec, path);
}

}  // namespace tuner::search
