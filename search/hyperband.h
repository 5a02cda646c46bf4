// Hyperband (Li et al., JMLR 2018) as a pure SearchPolicy. See hyperband.cc for the schedule.
#ifndef TUNER_SEARCH_HYPERBAND_H_
#define TUNER_SEARCH_HYPERBAND_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "search/policy.h"
#include "search/sampler.h"
#include "search/sampler.h"

namespace tuner::search {

// One bracket's schedule: rung i has trials[i] configurations trained to epochs[i].
struct BracketSchedule {
  int s = 0;
  std::vector<int> trials;
  std::vector<int> epochs;
};

// Brackets s = s_max..0 for one iteration, s_max = floor(log_eta R),
// n = ceil((s_max+1)/(s+1) * eta^s), r = R * eta^-s, rung i: floor(n eta^-i) at r eta^i epochs.
// Epochs are rounded to the nearest integer (at least 1, non-decreasing, the last rung exactly R).
// Empty when max_epochs < 1 or eta < 2.
std::vector<BracketSchedule> HyperbandSchedule(int max_epochs, int eta);

// Hyperband over the trial history. Brackets are numbered b = iteration * (s_max + 1) +
// (s_max - s), so HyperbandSchedule(...)[b % (s_max + 1)] is bracket b's schedule. Brackets
// run side by side: new trials of the next bracket are handed out while a rung waits for its
// stragglers. A rung is decided once all its trials are done: the top floor(n_i / eta) PAUSED
// trials with a value (ties: lower number) are promoted as the same trial, the other PAUSED
// trials are pruned; FAILED ones simply drop out. With a TPE or GP sampler (BOHB), new
// configurations learn from the values at the largest rung epoch that at least
// n_startup_trials trials finished (BudgetObservations); random until one has.
// Immutable after Create; safe to call from several threads.
class HyperbandPolicy final : public SearchPolicy {
 public:
  // INVALID_ARGUMENT naming the algorithm field when R, eta or iterations are out of range,
  // or when the study would plan more than 100000 trials.
  static absl::StatusOr<std::unique_ptr<HyperbandPolicy>> Create(const StudySpec& spec);

  Plan Next(const std::vector<TrialRecord>& history, int max_new) const override;
  bool MayPromote(const TrialRecord& trial) const override;
  int64_t PlannedTrials() const override;

 private:
  HyperbandPolicy(const StudySpec& spec, std::vector<BracketSchedule> schedule);

  // The schedule of bracket b (any iteration).
  const BracketSchedule& Shape(int bracket) const;

  const SearchSpace space_;
  const SamplerSpec sampler_;
  const uint64_t seed_;
  const bool maximize_;
  const int iterations_;
  const std::vector<BracketSchedule> schedule_;  // s = s_max..0
};

}  // namespace tuner::search

#endif  // TUNER_SEARCH_HYPERBAND_H_
