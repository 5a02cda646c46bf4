// SearchPolicy: the pure part of a search algorithm. Given the study's trial history it says
// what to do next: new trials to create, paused trials to promote or to prune, or that the
// study is done. No I/O, no clock; randomness comes from the spec's seed and the trial number,
// so the same history always gives the same plan. The scheduler in tuner-server does the I/O.
#ifndef TUNER_SEARCH_POLICY_H_
#define TUNER_SEARCH_POLICY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "search/space.h"
#include "search/study_spec.h"

namespace tuner::search {

// Trial states as the policy sees them (same names as proto TrialState).
enum class TrialState { kPending, kRunning, kPaused, kCompleted, kPruned, kFailed, kStopped };

// What the policy needs to know about one trial.
struct TrialRecord {
  int64_t number = 0;        // 0-based creation order in the study
  Params params;
  TrialState state = TrialState::kPending;
  std::optional<double> value;  // objective at the end of its current rung / of training
  int bracket = -1;          // Hyperband and ASHA only
  int rung = 0;
  int budget_epochs = 0;
  // Intermediate values: epoch -> mean over the executions that reported that epoch. ASHA
  // reads the values at rungs a trial has left; the median pruner compares epochs.
  std::map<int, double> intermediate;
  // (execution, epoch) -> the value that execution reported: the median pruner compares an
  // execution with the same execution of other trials.
  std::map<std::pair<int, int>, double> execution_values;
};

// A trial to create. Its number is history.size() + its index in Plan::new_trials.
struct NewTrial {
  Params params;
  int bracket = -1;
  int rung = 0;
  int budget_epochs = 0;
};

// A paused trial that continues as the same trial at a higher rung.
struct Promotion {
  int64_t number = 0;
  int rung = 0;
  int budget_epochs = 0;
};

struct Plan {
  std::vector<Promotion> promotions;   // paused trials to resume
  std::vector<int64_t> prunes;         // paused trials that stop here (not promoted)
  std::vector<NewTrial> new_trials;    // at most max_new
  bool finished = false;               // nothing more will ever be created or promoted
};

class SearchPolicy {
 public:
  virtual ~SearchPolicy() = default;
  // history: every trial of the study, indexed by number. max_new: how many new trials the
  // scheduler can take now. Hyperband returns promotions and prunes in full; ASHA decides
  // when a worker asks, so its promotions count against max_new like new trials.
  virtual Plan Next(const std::vector<TrialRecord>& history, int max_new) const = 0;
  // Whether a trial that just finished its budget may still be promoted (then it is PAUSED,
  // keeps a checkpoint and waits for its rung); otherwise it is COMPLETED.
  virtual bool MayPromote(const TrialRecord& trial) const = 0;
  // Total trials the policy will create; 0 when unknown.
  virtual int64_t PlannedTrials() const = 0;
  // A configuration a person chose (EnqueueTrial, already checked by CanonicalParams) as trial
  // number history.size(): it takes the place of the one the policy would have sampled and
  // counts like it. FAILED_PRECONDITION when the policy has no place for it: grid and
  // Hyperband plan every configuration themselves (the default), or every trial was created.
  virtual absl::StatusOr<NewTrial> Enqueue(const std::vector<TrialRecord>& history,
                                           Params params) const;
};

// Builds the policy for spec.algorithm.
absl::StatusOr<std::unique_ptr<SearchPolicy>> MakePolicy(const StudySpec& spec);

// Objective ordering: true when a is better than b.
inline bool Better(double a, double b, bool maximize) { return maximize ? a > b : a < b; }

}  // namespace tuner::search

#endif  // TUNER_SEARCH_POLICY_H_
