// A study's work counted in epochs, for an honest ETA: what its trials trained so far and
// what they will have trained when the study ends. Pure (history in, counts out), so the
// estimate is unit-tested without a server.
#ifndef TUNER_SEARCH_PROGRESS_H_
#define TUNER_SEARCH_PROGRESS_H_

#include <cstdint>
#include <vector>

#include "search/policy.h"
#include "search/study_spec.h"

namespace tuner::search {

// One unit is one epoch of one execution.
struct EpochProgress {
  int64_t done = 0;     // trained so far: the (execution, epoch) pairs the trials reported
  int64_t planned = 0;  // expected when the study ends, >= done; 0 when it cannot be known
};

// planned = done + the epochs still to train:
// - a finished trial (COMPLETED, PRUNED, FAILED, STOPPED): nothing more;
// - random and grid (and TPE / GP samplers): a trial not finished trains to its budget
//   (trainer.epochs); trials not created yet, planned_trials - history.size() of them, each
//   its full budget. A median pruner's stops are not foreseen: they show as the ETA falling.
// - Hyperband: a trial at rung k of a bracket with n_i configurations at r_i epochs reaches
//   rung j > k with odds n_j / n_k, so it is expected to train to
//   r_k + sum_{j>k} (n_j / n_k) (r_j - r_{j-1}); a bracket's configurations not created yet
//   start at rung 0. Summed over every bracket of every iteration that is the schedule exactly.
// - ASHA: the same with odds eta^-(j-k) (a rung promotes its top 1/eta); new configurations go
//   to brackets round-robin.
// Each unit counts executions_per_trial times. planned_trials: the policy's PlannedTrials().
// A study with nothing left to run (finished = true) plans exactly what it trained.
EpochProgress EstimateEpochs(const StudySpec& spec, const std::vector<TrialRecord>& history,
                             int64_t planned_trials, bool finished);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_PROGRESS_H_
