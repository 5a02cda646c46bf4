// The trainer section of a study, checked when the study is created with the same parsers the
// workers run, so a bad trainer field or objective metric never creates a study whose trials
// all fail. Torch-free: the server links it whether or not workers have LibTorch.
#ifndef TUNER_TRIAL_WORKER_TRAINING_TRAINER_SPEC_H_
#define TUNER_TRIAL_WORKER_TRAINING_TRAINER_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "search/study_spec.h"

namespace tuner::worker {

// The metrics a trainer kind reports every epoch (objective.metric must be one of them).
const std::vector<std::string>& ReportedMetrics(const std::string& trainer_kind);

// INVALID_ARGUMENT "objective.metric: ..." with the allowed metrics unless `metric` is one
// `trainer_kind` reports. The trainers check it too, for studies created before the check.
absl::Status CheckObjectiveMetric(const std::string& trainer_kind, const std::string& metric);

// INVALID_ARGUMENT naming the field: "objective.metric: ..." (with the allowed metrics),
// "trainer.<key>: ..." as the worker would say it, or "search_space.<param>: ..." when a value
// the space can draw is one the trainer refuses (a choice value, or a range's min or max, of a
// param the trainer reads: units, dropout, optimizer, learning_rate, momentum).
absl::Status ValidateTrainerSpec(const search::StudySpec& spec);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRAINING_TRAINER_SPEC_H_
