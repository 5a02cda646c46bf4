#include "tunectl/json_view.h"

#include <cctype>
#include <cmath>
#include <string>
#include <map>

#include "tunectl/format.h"

namespace tuner::tunectl {
namespace {

// JSON has no NaN or infinity.
Json Number(double value) {
  return std::isfinite(value) ? Json(value) : Json(nullptr);
}

// 0 means "not yet" for the proto's timestamps.
Json Time(double unix_seconds) {
  return unix_seconds > 0 ? Number(unix_seconds) : Json(nullptr);
}

Json MetricsJson(const google::protobuf::Map<std::string, double>& metrics) {
  Json json = Json::object();
  for (const auto& [name, value] : std::map<std::string, double>(metrics.begin(), metrics.end())) {
    json[name] = Number(value);
  }
  return json;
}

}  // namespace

Json ParamsJson(const google::protobuf::Map<std::string, v1::ParamValue>& params) {
  Json json = Json::object();
  const std::map<std::string, v1::ParamValue> sorted(params.begin(), params.end());
  for (const auto& [name, value] : sorted) {
    switch (value.kind_case()) {
      case v1::ParamValue::kIntValue:
        json[name] = value.int_value();
        break;
      case v1::ParamValue::kFloatValue:
        json[name] = Number(value.float_value());
        break;
      case v1::ParamValue::kStringValue:
        json[name] = value.string_value();
        break;
      case v1::ParamValue::KIND_NOT_SET:
        json[name] = nullptr;
        break;
    }
  }
  return json;
}

Json TrialJson(const v1::Trial& trial) {
  Json json = Json::object();
  json["trial_id"] = trial.trial_id();
  json["study_id"] = trial.study_id();
  json["number"] = trial.number();
  json["state"] = TrialStateName(trial.state());
  json["params"] = ParamsJson(trial.params());
  json["value"] = trial.has_value() ? Number(trial.value()) : Json(nullptr);
  json["metrics"] = MetricsJson(trial.metrics());
  json["bracket"] = trial.bracket();
  json["rung"] = trial.rung();
  json["budget_epochs"] = trial.budget_epochs();
  json["epochs_done"] = trial.epochs_done();
  json["attempt"] = trial.attempt();
  json["worker_name"] = trial.worker_name();
  json["fail_reason"] = trial.fail_reason();
  json["created_at"] = Time(trial.created_at());
  json["started_at"] = Time(trial.started_at());
  json["finished_at"] = Time(trial.finished_at());
  json["heartbeat_at"] = Time(trial.heartbeat_at());
  if (trial.intermediate_values_size() > 0) {
    Json values = Json::array();
    for (const v1::IntermediateValue& v : trial.intermediate_values()) {
      values.push_back({{"execution", v.execution()},
                        {"epoch", v.epoch()},
                        {"value", Number(v.value())},
                        {"metrics", MetricsJson(v.metrics())}});
    }
    json["intermediate_values"] = std::move(values);
  }
  return json;
}

Json StudyJson(const v1::Study& study) {
  Json json = Json::object();
  json["study_id"] = study.study_id();
  json["name"] = study.name();
  json["state"] = v1::StudyState_Name(study.state());
  json["algorithm"] = study.algorithm();
  json["sampler"] = study.sampler();
  json["pruner"] = study.pruner();
  json["objective_metric"] = study.objective_metric();
  json["direction"] = v1::Direction_Name(study.direction());
  json["planned_trials"] = study.planned_trials();
  Json counts = Json::object();
  for (const auto& [state, count] :
       std::map<std::string, int64_t>(study.trial_counts().begin(), study.trial_counts().end())) {
    counts[state] = count;
  }
  json["trial_counts"] = std::move(counts);
  json["done_trials"] = DoneCount(study);
  json["all_trials_failed"] = study.state() != v1::STUDY_RUNNING &&
                              TrialCount(study, v1::FAILED) > 0 &&
                              TrialCount(study, v1::FAILED) == TotalCount(study);
  json["epochs_done"] = study.epochs_done();
  json["planned_epochs"] = study.planned_epochs();
  json["best_trial"] = study.has_best() ? TrialJson(study.best_trial()) : Json(nullptr);
  Json brackets = Json::array();
  for (const v1::BracketProgress& b : study.brackets()) {
    brackets.push_back({{"bracket", b.bracket()},
                        {"rung", b.rung()},
                        {"rungs", b.rungs()},
                        {"trials", b.trials()},
                        {"finished", b.finished()}});
  }
  json["brackets"] = std::move(brackets);
  json["created_at"] = Time(study.created_at());
  json["finished_at"] = Time(study.finished_at());
  json["spec_yaml"] = study.spec_yaml();
  return json;
}

namespace {

bool PlainKey(const std::string& key) {
  if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_')) {
    return false;
  }
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// A scalar in YAML: JSON's spelling is valid YAML (strings double-quoted with JSON's escapes).
std::string YamlScalar(const Json& value) { return value.dump(); }

void AppendYaml(const Json& value, int indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      out += pad + (PlainKey(key) ? key : Json(key).dump()) + ":";
      if ((item.is_object() || item.is_array()) && !item.empty()) {
        out += "\n";
        AppendYaml(item, indent + 2, out);
      } else {
        out += " " + (item.is_object() ? "{}" : item.is_array() ? "[]" : YamlScalar(item)) + "\n";
      }
    }
    return;
  }
  if (value.is_array()) {
    for (const Json& item : value) {
      if ((item.is_object() || item.is_array()) && !item.empty()) {
        // "- " then the item's first line on the same line, the rest under it.
        std::string nested;
        AppendYaml(item, indent + 2, nested);
        out += pad + "- " + nested.substr(indent + 2);
      } else {
        out += pad + "- " +
               (item.is_object() ? "{}" : item.is_array() ? "[]" : YamlScalar(item)) + "\n";
      }
    }
    return;
  }
  out += pad + YamlScalar(value) + "\n";
}

}  // namespace

std::string ToYaml(const Json& value) {
  std::string out;
  if ((value.is_object() || value.is_array()) && value.empty()) {
    return value.is_object() ? "{}\n" : "[]\n";
  }
  AppendYaml(value, 0, out);
  return out;
}

}  // namespace tuner::tunectl
