// Grid search: every combination of the params' grid values, one trial each.
#ifndef TUNER_SEARCH_GRID_SEARCH_H_
#define TUNER_SEARCH_GRID_SEARCH_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "search/policy.h"

namespace tuner::search {

// Trial k is combination k in row-major order: the first param varies slowest, as in nested
// loops written in the spec's order. Every trial trains spec.epochs epochs. A conditional
// param varies only under the parent values that make it exist: the combinations are those
// of the full grid without their inactive params, each once, in first-seen order.
// Immutable after Create; safe to call from several threads.
class GridSearch final : public SearchPolicy {
 public:
  // INVALID_ARGUMENT naming the param when one has no grid (a float range without step) or
  // when the grid has more than 100000 combinations.
  static absl::StatusOr<std::unique_ptr<GridSearch>> Create(const StudySpec& spec);

  Plan Next(const std::vector<TrialRecord>& history, int max_new) const override;
  bool MayPromote(const TrialRecord& trial) const override { return false; }
  int64_t PlannedTrials() const override { return combinations_; }

  // The params of combination `index`, 0 <= index < PlannedTrials().
  Params Combination(int64_t index) const;

 private:
  GridSearch(std::vector<std::string> names, std::vector<std::vector<ParamValue>> values,
             int64_t combinations, int epochs);
  // Combination `index` of the full grid, every param present.
  Params FullCombination(int64_t index) const;

  const std::vector<std::string> names_;               // spec order
  const std::vector<std::vector<ParamValue>> values_;  // GridValues of each param
  int64_t combinations_;
  const int epochs_;
  // With conditional params: the distinct combinations, by index; empty otherwise.
  std::vector<Params> conditional_;
};

}  // namespace tuner::search

#endif  // TUNER_SEARCH_GRID_SEARCH_H_
