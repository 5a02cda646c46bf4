// ASHA, asynchronous successive halving (Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt,
// Recht, Talwalkar, MLSys 2020, Algorithm 2), as a pure SearchPolicy.
#ifndef TUNER_SEARCH_ASHA_H_
#define TUNER_SEARCH_ASHA_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "search/policy.h"
#include "search/sampler.h"

namespace tuner::search {

// Bracket s's rung epochs: min_epochs * eta^(s+k) for every k with a value below max_epochs,
// then max_epochs. Bracket 0 of r=1, R=9, eta=3 is {1, 3, 9}; R=10 gives {1, 3, 9, 10}.
// Empty when the arguments are out of range.
std::vector<int> AshaRungEpochs(int min_epochs, int max_epochs, int eta, int s);

// ASHA over the trial history. A trial that finishes a rung below its bracket's last is PAUSED
// with a checkpoint. Each time the scheduler has room for a job (a worker asks), the policy
// promotes a PAUSED trial that ranks in the top floor(n_k / eta) of the n_k trials that
// finished rung k, from the highest rung k that has one (its best first; ties: lower trial
// number, then lower bracket); otherwise it starts a new configuration at rung 0, until
// max_trials were started. It never waits for a rung to fill, so a worker is never idle while
// there is work. A trial's rung-k value is its value when it finished rung k: its current
// value while it waits there, its intermediate value at that rung's epoch after it moved on
// (a promoted trial that reported none ranks first, as it did when it was promoted).
// Configuration k goes to bracket k % brackets. When every configuration was started and
// nothing runs or can be promoted, the PAUSED trials are pruned and the study is finished.
// With a TPE or GP sampler (BOHB), new configurations learn from the values at the largest
// rung epoch that at least n_startup_trials trials finished (BudgetObservations); random until
// one has.
// Immutable after Create; safe to call from several threads.
class AshaPolicy final : public SearchPolicy {
 public:
  // INVALID_ARGUMENT naming the algorithm field when a setting is out of range.
  static absl::StatusOr<std::unique_ptr<AshaPolicy>> Create(const StudySpec& spec);

  Plan Next(const std::vector<TrialRecord>& history, int max_new) const override;
  bool MayPromote(const TrialRecord& trial) const override;
  int64_t PlannedTrials() const override { return max_trials_; }
  // A new configuration at rung 0 of bracket history.size() % brackets, as a sampled one.
  absl::StatusOr<NewTrial> Enqueue(const std::vector<TrialRecord>& history,
                                   Params params) const override;

  // Rung epochs of bracket b (b in [0, brackets)).
  const std::vector<int>& Rungs(int bracket) const { return rungs_[bracket]; }
  int brackets() const { return static_cast<int>(rungs_.size()); }

 private:
  AshaPolicy(const StudySpec& spec, std::vector<std::vector<int>> rungs);


  const SearchSpace space_;
  const SamplerSpec sampler_;
  const uint64_t seed_;
  const bool maximize_;
  const int eta_;
  const int64_t max_trials_;
  const std::vector<std::vector<int>> rungs_;  // by bracket
};

}  // namespace tuner::search

#endif  // TUNER_SEARCH_ASHA_H_
