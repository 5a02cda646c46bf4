#include "search/grid_search.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tuner::search {
namespace {

constexpr int64_t kMaxCombinations = 100000;

}  // namespace

absl::StatusOr<std::unique_ptr<GridSearch>> GridSearch::Create(const StudySpec& spec) {
  if (spec.epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.epochs: must be an integer >= 1 (got ", spec.epochs, ")"));
  }
  std::vector<std::string> names;
  std::vector<std::string> factors;
  int64_t combinations = 1;
  for (const ParamSpec& param : spec.space.params) {
    const int64_t size = GridSize(param);
    if (size <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("search_space.", param.name,
                       ": grid search needs a step or a choice list (float range without step)"));
    }
    names.push_back(param.name);
    factors.push_back(absl::StrCat(param.name, ": ", size, " values"));
    // Checked before multiplying so an int range of 2^53 values cannot overflow.
    if (size > kMaxCombinations || combinations * size > kMaxCombinations) {
      combinations = kMaxCombinations + 1;
    } else {
      combinations *= size;
    }
  }
  if (combinations > kMaxCombinations) {
    return absl::InvalidArgumentError(absl::StrCat("search_space: grid search has more than ",
                                                   kMaxCombinations, " combinations (",
                                                   absl::StrJoin(factors, ", "), ")"));
  }
  std::vector<std::vector<ParamValue>> values;
  for (const ParamSpec& param : spec.space.params) values.push_back(GridValues(param));
  std::unique_ptr<GridSearch> grid(
      new GridSearch(std::move(names), std::move(values), combinations, spec.epochs));
  const bool conditional = std::any_of(spec.space.params.begin(), spec.space.params.end(),
                                       [](const ParamSpec& param) { return param.when.has_value(); });
  if (conditional) {
    std::set<Params> seen;
    for (int64_t index = 0; index < combinations; ++index) {
      Params params = ActiveOnly(spec.space, grid->FullCombination(index));
      if (seen.insert(params).second) grid->conditional_.push_back(std::move(params));
    }
    grid->combinations_ = static_cast<int64_t>(grid->conditional_.size());
  }
  return grid;
}

GridSearch::GridSearch(std::vector<std::string> names, std::vector<std::vector<ParamValue>> values,
                       int64_t combinations, int epochs)
    : names_(std::move(names)),
      values_(std::move(values)),
      combinations_(combinations),
      epochs_(epochs) {}

Params GridSearch::Combination(int64_t index) const {
  if (!conditional_.empty()) return conditional_[static_cast<size_t>(index)];
  return FullCombination(index);
}

Params GridSearch::FullCombination(int64_t index) const {
  Params params;
  // Mixed radix, last param fastest.
  for (size_t p = values_.size(); p-- > 0;) {
    const int64_t size = static_cast<int64_t>(values_[p].size());
    params[names_[p]] = values_[p][static_cast<size_t>(index % size)];
    index /= size;
  }
  return params;
}

Plan GridSearch::Next(const std::vector<TrialRecord>& history, int max_new) const {
  Plan plan;
  const int64_t first = static_cast<int64_t>(history.size());
  const int64_t end = std::min<int64_t>(combinations_, first + std::max(max_new, 0));
  for (int64_t number = first; number < end; ++number) {
    plan.new_trials.push_back({Combination(number), -1, 0, epochs_});
  }
  plan.finished = std::max(end, first) >= combinations_;
  return plan;
}

}  // namespace tuner::search
