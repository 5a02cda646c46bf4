// CanonicalParams: a configuration given by a person, checked against the search space and
// brought to the form a sampler gives, so an enqueued trial looks like any other.
#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "search/space.h"

namespace tuner::search {
namespace {

std::optional<double> ParseNumber(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

// The value as a number: ints and floats as they are, a string when it reads as one.
std::optional<double> AsNumber(const ParamValue& value) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const double* d = std::get_if<double>(&value)) return *d;
  return ParseNumber(std::get<std::string>(value));
}

std::string Allowed(const ParamSpec& spec) {
  if (spec.kind == ParamKind::kChoice) {
    std::vector<std::string> values;
    for (const ParamValue& value : spec.values) values.push_back(ParamValueToString(value));
    return absl::StrCat("one of ", absl::StrJoin(values, ", "));
  }
  const bool is_int = spec.kind == ParamKind::kInt;
  const auto print = [is_int](double v) {
    return is_int ? std::to_string(static_cast<int64_t>(v)) : ParamValueToString(v);
  };
  std::string text = absl::StrCat(is_int ? "an integer" : "a number", " in [", print(spec.min),
                                  ", ", print(spec.max), "]");
  if (spec.step) absl::StrAppend(&text, " on the grid min + k * ", print(*spec.step));
  return text;
}

absl::StatusOr<ParamValue> CanonicalValue(const ParamSpec& spec, const ParamValue& given) {
  const auto refuse = [&] {
    return absl::InvalidArgumentError(absl::StrCat("params.", spec.name, ": must be ",
                                                   Allowed(spec), " (got ",
                                                   ParamValueToString(given), ")"));
  };
  if (spec.kind == ParamKind::kChoice) {
    const std::optional<double> number = AsNumber(given);
    for (const ParamValue& value : spec.values) {
      // "256" finds 256; 0.10 and 1e-1 find 0.1.
      if (ParamValueToString(value) == ParamValueToString(given)) return value;
      if (!std::holds_alternative<std::string>(value) && number && *AsNumber(value) == *number) {
        return value;
      }
    }
    return refuse();
  }
  const std::optional<double> number = AsNumber(given);
  if (!number || *number < spec.min || *number > spec.max) return refuse();
  if (spec.kind == ParamKind::kInt) {
    if (std::floor(*number) != *number) return refuse();
    const int64_t value = static_cast<int64_t>(*number);
    if (spec.step) {
      const int64_t step = static_cast<int64_t>(*spec.step);
      if ((value - static_cast<int64_t>(spec.min)) % step != 0) return refuse();
    }
    return value;
  }
  if (!spec.step) return *number;
  // The same tolerance GridSize uses, so every value GridValues prints is accepted.
  const double quotient = (*number - spec.min) / *spec.step;
  const double index = std::round(quotient);
  if (std::fabs(quotient - index) > 1e-9 * std::max(1.0, std::fabs(quotient)) || index < 0 ||
      index >= static_cast<double>(GridSize(spec))) {
    return refuse();
  }
  return GridValueAt(spec, static_cast<int64_t>(index));
}

}  // namespace

absl::StatusOr<Params> CanonicalParams(const SearchSpace& space, const Params& given) {
  std::set<std::string> names;
  for (const ParamSpec& spec : space.params) names.insert(spec.name);
  for (const auto& [name, value] : given) {
    if (!names.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("params.", name, ": not a param of this study (its params: ",
                       absl::StrJoin(names, ", "), ")"));
    }
  }
  // Every given value in canonical form first: the conditions compare the parents' values.
  Params out;
  for (const ParamSpec& spec : space.params) {
    auto it = given.find(spec.name);
    if (it == given.end()) continue;
    absl::StatusOr<ParamValue> value = CanonicalValue(spec, it->second);
    if (!value.ok()) return value.status();
    out[spec.name] = *std::move(value);
  }
  for (const ParamSpec& spec : space.params) {
    const bool active = IsActive(space, spec, out);
    const bool present = out.count(spec.name) > 0;
    if (active && !present) {
      return absl::InvalidArgumentError(absl::StrCat(
          "params.", spec.name, ": missing; give ", Allowed(spec),
          spec.when ? absl::StrCat(" (it exists when ", ConditionText(*spec.when), ")") : ""));
    }
    if (!active && present) {
      return absl::InvalidArgumentError(
          absl::StrCat("params.", spec.name, ": only exists when ", ConditionText(*spec.when),
                       "; leave it out of this configuration"));
    }
  }
  return out;
}

}  // namespace tuner::search
