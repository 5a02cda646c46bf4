// `tunectl trials --format csv`: the trials as one CSV table (RFC 4180), a row per trial,
// for spreadsheets and pandas.read_csv. Pure.
#ifndef TUNER_TUNECTL_TRIALS_EXPORT_H_
#define TUNER_TUNECTL_TRIALS_EXPORT_H_

#include <string>
#include <vector>

#include "proto/tuner.pb.h"

namespace tuner::tunectl {

namespace v1 = ::tuner::v1;

// Columns: number, trial_id, state, value, epochs_done, budget_epochs, bracket, rung, attempt,
// worker_name, created_at, started_at, finished_at (unix seconds), params_NAME per param and
// metrics_NAME per metric (names sorted, as Optuna's trials_dataframe names them), fail_reason.
// By number. Numbers at full precision (the shortest text that reads back to the same
// double); an unset value or time, a missing param or metric, is an empty cell; a non-finite
// number is nan / inf / -inf. Cells with a comma, a quote or a line break are quoted.
// with_intermediate: an "intermediate_values" column, "epoch:value" pairs of execution 0
// separated by spaces.
std::string TrialsCsv(std::vector<v1::Trial> trials, bool with_intermediate);

// The per-epoch objective for a table cell: the mean over executions of each epoch, the last
// `max_epochs` epochs with 4 significant digits ("… 0.71 0.74 0.75"); "-" when none.
std::string IntermediateCell(const v1::Trial& trial, int max_epochs);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_TRIALS_EXPORT_H_
