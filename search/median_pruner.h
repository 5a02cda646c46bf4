// Median stopping rule (Golovin et al., "Google Vizier", KDD 2017; Optuna's MedianPruner): stop a
// trial whose intermediate value at an epoch is worse than the median of the COMPLETED trials'
// values at that same epoch. Pure: the history comes in as data.
#ifndef TUNER_SEARCH_MEDIAN_PRUNER_H_
#define TUNER_SEARCH_MEDIAN_PRUNER_H_

#include <cstdint>
#include <vector>

#include "search/policy.h"
#include "search/study_spec.h"

namespace tuner::search {

struct PruneDecision {
  bool prune = false;
  double value = 0;    // the trial's value at the epoch
  double median = 0;   // of the reference values (when there were any)
  int references = 0;  // COMPLETED trials with a value at the epoch
};

// Whether trial `number` should stop after reporting `epoch` (its history[number].intermediate
// holds the value). Never before spec.n_startup_trials trials COMPLETED, never at an epoch <=
// spec.n_warmup_epochs, never at the trial's last epoch (budget_epochs: it has nothing left to
// save), never when no COMPLETED trial reported that epoch; otherwise prune when
// the value is strictly worse than the median (the mean of the two middle values for an even
// count). A pruner of kind none never prunes.
PruneDecision DecidePrune(const PrunerSpec& spec, bool maximize,
                          const std::vector<TrialRecord>& history, int64_t number, int epoch);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_MEDIAN_PRUNER_H_
