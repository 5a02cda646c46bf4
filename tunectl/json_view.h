// JSON views of studies and trials for `tunectl ... --json`: one object shape per concept, shared
// by every command, with native JSON types (an int param is a JSON integer, a float a number, a
// string a string; a value or metric that is not finite, or not set, is null).
#ifndef TUNER_TUNECTL_JSON_VIEW_H_
#define TUNER_TUNECTL_JSON_VIEW_H_

#include "nlohmann/json.hpp"
#include "proto/tuner.pb.h"
#include "tunectl/format.h"

namespace tuner::tunectl {

// Keys keep the order they were written in, so people reading the output see ids first.
using Json = nlohmann::ordered_json;

// {"units": 256, "dropout": 0.3, "optimizer": "adam"}.
Json ParamsJson(const google::protobuf::Map<std::string, v1::ParamValue>& params);

// {"trial_id", "study_id", "number", "state", "params", "value", "metrics", "bracket", "rung",
//  "budget_epochs", "epochs_done", "attempt", "worker_name", "fail_reason", "created_at",
//  "started_at", "finished_at", "heartbeat_at"}; intermediate_values when the trial carries
//  them.
Json TrialJson(const v1::Trial& trial);

// {"study_id", "name", "state" (STUDY_RUNNING | STUDY_COMPLETED | STUDY_STOPPED), "algorithm",
//  "objective_metric", "direction" (MAXIMIZE | MINIMIZE), "planned_trials", "trial_counts",
//  "done_trials", "all_trials_failed", "epochs_done", "planned_epochs", "best_trial" (a
//  TrialJson or null), "brackets", "created_at", "finished_at", "spec_yaml"}; also "sampler"
//  and "pruner" after "algorithm".
Json StudyJson(const v1::Study& study);

// The same document as YAML (block style; strings double-quoted as JSON spells them, which
// YAML reads the same), for `--format yaml`.
std::string ToYaml(const Json& value);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_JSON_VIEW_H_
