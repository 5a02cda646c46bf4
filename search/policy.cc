#include "search/policy.h"

#include <set>
#include <string>

#include "search/asha.h"
#include "search/grid_search.h"
#include "search/hyperband.h"
#include "search/random_search.h"

namespace tuner::search {

absl::StatusOr<NewTrial> SearchPolicy::Enqueue(const std::vector<TrialRecord>& history,
                                               Params params) const {
  return absl::FailedPreconditionError(
      "enqueue works with random and asha studies (grid and hyperband choose every "
      "configuration themselves)");
}

absl::StatusOr<std::unique_ptr<SearchPolicy>> MakePolicy(const StudySpec& spec) {
  // The spec may not come from ParseStudySpec (a test, a row read back from the db), so the
  // space is checked again: a policy built on a bad space would sample garbage.
  if (spec.space.params.empty()) {
    return absl::InvalidArgumentError("search_space: must have at least one param");
  }
  std::set<std::string> names;  // not a scan per param: that was quadratic in the params
  for (const ParamSpec& param : spec.space.params) {
    if (!names.insert(param.name).second) {
      return absl::InvalidArgumentError("search_space: duplicate param \"" + param.name + "\"");
    }
    if (absl::Status valid = ValidateParamSpec(param); !valid.ok()) return valid;
  }
  SearchSpace space = spec.space;
  if (absl::Status valid = ResolveConditions(space); !valid.ok()) return valid;
  switch (spec.algorithm) {
    case Algorithm::kRandom:
      return RandomSearch::Create(spec);
    case Algorithm::kGrid:
      return GridSearch::Create(spec);
    case Algorithm::kHyperband:
      return HyperbandPolicy::Create(spec);
    case Algorithm::kAsha:
      return AshaPolicy::Create(spec);
  }
  return absl::InvalidArgumentError("algorithm.kind: must be one of random, grid, hyperband, asha");
}

}  // namespace tuner::search
