// Conditional params: which params exist in a configuration, and the checks on `when`.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "search/space.h"

namespace tuner::search {
namespace {

const ParamSpec* FindParam(const SearchSpace& space, const std::string& name) {
  for (const ParamSpec& spec : space.params) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string ValuesText(const std::vector<ParamValue>& values) {
  std::vector<std::string> texts;
  for (const ParamValue& value : values) texts.push_back(ParamValueToString(value));
  return absl::StrJoin(texts, ", ");
}

}  // namespace

bool IsActive(const SearchSpace& space, const ParamSpec& spec, const Params& params) {
  // Conditions are acyclic (ResolveConditions), so this walks up to a root and stops.
  const ParamSpec* child = &spec;
  while (child->when) {
    const ParamSpec* parent = FindParam(space, child->when->parent);
    auto value = params.find(child->when->parent);
    if (parent == nullptr || value == params.end()) return false;
    bool listed = false;
    for (const ParamValue& allowed : child->when->values) listed = listed || allowed == value->second;
    if (!listed) return false;
    child = parent;
  }
  return true;
}

Params ActiveOnly(const SearchSpace& space, Params params) {
  const Params all = params;
  for (const ParamSpec& spec : space.params) {
    if (!IsActive(space, spec, all)) params.erase(spec.name);
  }
  return params;
}

std::string ConditionText(const ParamCondition& condition) {
  if (condition.values.size() == 1) {
    return absl::StrCat(condition.parent, " is ", ParamValueToString(condition.values[0]));
  }
  return absl::StrCat(condition.parent, " is one of ", ValuesText(condition.values));
}

absl::Status ResolveConditions(SearchSpace& space) {
  for (ParamSpec& spec : space.params) {
    if (!spec.when) continue;
    const std::string path = absl::StrCat("search_space.", spec.name, ".when");
    const ParamSpec* parent = FindParam(space, spec.when->parent);
    if (parent == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": \"", spec.when->parent,
                                                     "\" is not a param of the search space"));
    }
    const std::string parent_path = absl::StrCat(path, ".", parent->name);
    if (parent->kind != ParamKind::kChoice) {
      return absl::InvalidArgumentError(absl::StrCat(
          parent_path, ": the parent of a condition must be a choice param"));
    }
    if (spec.when->values.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(parent_path, ": must list one or more of ", ValuesText(parent->values)));
    }
    std::vector<ParamValue> resolved;
    for (const ParamValue& value : spec.when->values) {
      const ParamValue* match = nullptr;
      for (const ParamValue& own : parent->values) {
        if (ParamValueToString(own) == ParamValueToString(value)) match = &own;
      }
      if (match == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(parent_path, ": ", ParamValueToString(value), " is not a value of ",
                         parent->name, " (its values: ", ValuesText(parent->values), ")"));
      }
      if (std::find(resolved.begin(), resolved.end(), *match) == resolved.end()) {
        resolved.push_back(*match);
      }
    }
    spec.when->values = std::move(resolved);
  }
  for (const ParamSpec& spec : space.params) {
    std::vector<std::string> chain = {spec.name};
    for (const ParamSpec* at = &spec; at->when;) {
      at = FindParam(space, at->when->parent);
      chain.push_back(at->name);
      if (at->name == spec.name) {
        return absl::InvalidArgumentError(absl::StrCat("search_space.", spec.name,
                                                       ".when: conditions form a cycle (",
                                                       absl::StrJoin(chain, " -> "), ")"));
      }
      if (chain.size() > space.params.size() + 1) break;  // a cycle further up: found from there
    }
  }
  return absl::OkStatus();
}

}  // namespace tuner::search
