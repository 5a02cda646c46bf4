// Random search: trial k's params are a pure function of (seed, k).
#ifndef TUNER_SEARCH_RANDOM_SEARCH_H_
#define TUNER_SEARCH_RANDOM_SEARCH_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "search/policy.h"

namespace tuner::search {

// Samples max_trials configurations, each from TrialRng(seed, k), so the sequence does not
// depend on how the scheduler batches its calls. Every trial trains spec.epochs epochs.
// With sampler tpe, trial k's params also depend on the trials finished when it is created.
// Immutable after Create; safe to call from several threads.
class RandomSearch final : public SearchPolicy {
 public:
  // INVALID_ARGUMENT when max_trials is outside [1, 100000] or epochs < 1.
  static absl::StatusOr<std::unique_ptr<RandomSearch>> Create(const StudySpec& spec);

  Plan Next(const std::vector<TrialRecord>& history, int max_new) const override;
  bool MayPromote(const TrialRecord& trial) const override { return false; }
  int64_t PlannedTrials() const override { return max_trials_; }
  // Trial history.size() gets the params; later trials keep their own TrialRng streams.
  absl::StatusOr<NewTrial> Enqueue(const std::vector<TrialRecord>& history,
                                   Params params) const override;

 private:
  explicit RandomSearch(const StudySpec& spec);

  const SearchSpace space_;
  const SamplerSpec sampler_;
  const bool maximize_;
  const uint64_t seed_;
  const int64_t max_trials_;
  const int epochs_;
};

}  // namespace tuner::search

#endif  // TUNER_SEARCH_RANDOM_SEARCH_H_
