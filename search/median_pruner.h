// Median stopping rule (Golovin et al., "Google Vizier", KDD 2017) as Optuna 3.1's MedianPruner
// decides it: stop a trial whose best intermediate value so far is worse than the median of the
// COMPLETED trials' values at the same epoch. Pure: the history comes in as data.
#ifndef TUNER_SEARCH_MEDIAN_PRUNER_H_
#define TUNER_SEARCH_MEDIAN_PRUNER_H_

#include <cstdint>
#include <vector>

#include "search/policy.h"
#include "search/study_spec.h"

namespace tuner::search {

struct PruneDecision {
  bool prune = false;
  double value = 0;    // the trial's best value so far (of the judged execution)
  double median = 0;   // of the reference values (when there were any)
  int references = 0;  // COMPLETED trials with a value at the epoch
};

// Whether trial `number` should stop after `execution` reported `epoch`. Like with like: the
// execution's own values are compared with the other trials' values of the same execution
// (epochs up to `epoch` only; with one execution per trial this is Optuna's rule exactly; a history without per-execution
// values counts its intermediate values as execution 0's). Never while fewer than
// max(1, spec.n_startup_trials) trials COMPLETED, never at an epoch < spec.n_warmup_epochs,
// only at the first report at or past each n_warmup_epochs + k * spec.interval_epochs, never
// when no COMPLETED trial has a value at that epoch; otherwise prune when the best value so far
// is strictly worse than the median (the mean of the two middle values for an even count).
// A pruner of kind none never prunes.
PruneDecision DecidePrune(const PrunerSpec& spec, bool maximize,
                          const std::vector<TrialRecord>& history, int64_t number, int execution,
                          int epoch);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_MEDIAN_PRUNER_H_
