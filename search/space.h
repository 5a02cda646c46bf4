// Search space: the hyperparameters a study tunes and their values. Pure data, no I/O.
#ifndef TUNER_SEARCH_SPACE_H_
#define TUNER_SEARCH_SPACE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tuner::search {

// One hyperparameter value: int, float or a choice's string. A choice of numbers keeps the
// numbers' type (units: [128, 256] gives ints).
using ParamValue = std::variant<int64_t, double, std::string>;
// Param name -> value. Ordered so that printing and hashing are stable.
using Params = std::map<std::string, ParamValue>;

std::string ParamValueToString(const ParamValue& value);

enum class ParamKind { kInt, kFloat, kChoice };

// A conditional param exists only while its parent, a choice param of the same space, has one
// of `values` (and the parent itself exists): `momentum` only for `optimizer: sgd`.
struct ParamCondition {
  std::string parent;
  std::vector<ParamValue> values;  // the parent's own values, once ResolveConditions ran
};

// One dimension of the space. For kInt / kFloat: [min, max], optional step (a grid), optional
// log scale (sampled uniformly in log space; min must be > 0). For kChoice: values.
struct ParamSpec {
  std::string name;
  ParamKind kind = ParamKind::kFloat;
  double min = 0;
  double max = 0;
  std::optional<double> step;
  bool log = false;
  std::vector<ParamValue> values;  // kChoice only
  std::optional<ParamCondition> when;  // the spec's `when: {parent: [values]}`
};

// The whole space, in the order the spec lists it.
struct SearchSpace {
  std::vector<ParamSpec> params;
};

// The values a stepped range or a choice takes, in order: min, min+step, ... <= max (with a
// small tolerance so 0.2..0.5 step 0.1 has 4 values). Empty for a float range without step.
std::vector<ParamValue> GridValues(const ParamSpec& spec);

// Value number `index` (0-based, < GridSize) of an int range or a stepped range, exactly as
// GridValues lists it, without building the list.
ParamValue GridValueAt(const ParamSpec& spec, int64_t index);

// One random configuration. Stepped ranges snap to the grid; log ranges sample log-uniformly.
// Every param takes one draw, active or not, so a condition never shifts the others' draws;
// the inactive ones are then dropped (ActiveOnly).
Params SampleParams(const SearchSpace& space, std::mt19937_64& rng);

// Whether `spec` exists in a configuration: it has no condition, or its parent exists in
// `params` with one of the condition's values. The space's conditions must be resolved.
bool IsActive(const SearchSpace& space, const ParamSpec& spec, const Params& params);
// `params` without the params that are not active in it.
Params ActiveOnly(const SearchSpace& space, Params params);
// "optimizer is sgd" / "optimizer is one of sgd, nesterov", for messages.
std::string ConditionText(const ParamCondition& condition);

// Checks every condition and brings its values to the parent's own values (a `when` written
// as text "128" becomes the int choice 128): the parent must be a choice param of the space,
// each value one of its values, and conditions must not form a cycle. INVALID_ARGUMENT naming
// "search_space.<name>.when..." otherwise. Idempotent; ParseStudySpec and MakePolicy call it.
absl::Status ResolveConditions(SearchSpace& space);

// How many values GridValues(spec) has, without building them: a choice's size, a stepped or
// int range's point count, 0 for a float range without step.
int64_t GridSize(const ParamSpec& spec);

// The generator for trial `number` of a study seeded `seed`. Each trial has its own stream, so
// trial k's params do not depend on how many trials were asked for at once.
std::mt19937_64 TrialRng(uint64_t seed, int64_t number);

// Checks one param's bounds, step, log and values; INVALID_ARGUMENT naming
// "search_space.<name>.<field>" otherwise. ParseStudySpec and MakePolicy both call it.
absl::Status ValidateParamSpec(const ParamSpec& spec);

// Checks a configuration a person gives (EnqueueTrial) against the space and returns it as a
// sampler would have made it: an int param's value as an int (2.0 is 2), a float param's as a
// float, a stepped value as its grid point, a choice as the choice's own value. A string is
// read as the param's type ("256" is the int 256 or the choice 256). INVALID_ARGUMENT naming
// "params.<name>" and what is allowed for an unknown or missing param, a wrong type, a value
// out of range, off the step grid or not one of the choices.
absl::StatusOr<Params> CanonicalParams(const SearchSpace& space, const Params& given);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_SPACE_H_
