#include "tuner-server/convert.h"

#include <cmath>

#include "nlohmann/json.hpp"

namespace tuner::server {
namespace {

struct StateNames {
  search::TrialState state;
  const char* name;
  v1::TrialState proto;
};
constexpr StateNames kStates[] = {
    {search::TrialState::kPending, "PENDING", v1::PENDING},
    {search::TrialState::kRunning, "RUNNING", v1::RUNNING},
    {search::TrialState::kPaused, "PAUSED", v1::PAUSED},
    {search::TrialState::kCompleted, "COMPLETED", v1::COMPLETED},
    {search::TrialState::kPruned, "PRUNED", v1::PRUNED},
    {search::TrialState::kFailed, "FAILED", v1::FAILED},
    {search::TrialState::kStopped, "STOPPED", v1::STOPPED},
};

}  // namespace

const char* TrialStateName(search::TrialState state) {
  for (const auto& s : kStates) {
    if (s.state == state) return s.name;
  }
  return "UNKNOWN";
}

std::optional<search::TrialState> ParseTrialState(const std::string& name) {
  for (const auto& s : kStates) {
    if (name == s.name) return s.state;
  }
  return std::nullopt;
}

v1::TrialState ToProto(search::TrialState state) {
  for (const auto& s : kStates) {
    if (s.state == state) return s.proto;
  }
  return v1::TRIAL_STATE_UNSPECIFIED;
}

std::optional<search::TrialState> FromProto(v1::TrialState state) {
  for (const auto& s : kStates) {
    if (s.proto == state) return s.state;
  }
  return std::nullopt;
}

bool IsFinal(search::TrialState state) {
  return state == search::TrialState::kCompleted || state == search::TrialState::kPruned ||
         state == search::TrialState::kFailed || state == search::TrialState::kStopped;
}

std::string ParamsToJson(const search::Params& params) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [name, value] : params) {
    if (const auto* i = std::get_if<int64_t>(&value)) {
      json[name] = *i;
    } else if (const auto* d = std::get_if<double>(&value)) {
      json[name] = *d;
    } else {
      json[name] = std::get<std::string>(value);
    }
  }
  return json.dump();
}

absl::StatusOr<search::Params> ParamsFromJson(const std::string& text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return absl::DataLossError("trial params are not a JSON object: " + text);
  search::Params params;
  for (const auto& [name, value] : json.items()) {
    if (value.is_number_integer()) {
      params[name] = value.get<int64_t>();
    } else if (value.is_number()) {
      params[name] = value.get<double>();
    } else if (value.is_string()) {
      params[name] = value.get<std::string>();
    } else {
      return absl::DataLossError("trial param " + name + " has an unsupported JSON type");
    }
  }
  return params;
}

void ParamsToProto(const search::Params& params,
                   google::protobuf::Map<std::string, v1::ParamValue>* out) {
  for (const auto& [name, value] : params) {
    v1::ParamValue& v = (*out)[name];
    if (const auto* i = std::get_if<int64_t>(&value)) {
      v.set_int_value(*i);
    } else if (const auto* d = std::get_if<double>(&value)) {
      v.set_float_value(*d);
    } else {
      v.set_string_value(std::get<std::string>(value));
    }
  }
}

std::string MetricsToJson(const std::map<std::string, double>& metrics) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [name, value] : metrics) {
    // JSON has no NaN or infinity; a non-finite metric is stored as null.
    if (std::isfinite(value)) {
      json[name] = value;
    } else {
      json[name] = nullptr;
    }
  }
  return json.dump();
}

std::map<std::string, double> MetricsFromJson(const std::string& text) {
  std::map<std::string, double> metrics;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return metrics;
  for (const auto& [name, value] : json.items()) {
    metrics[name] = value.is_number() ? value.get<double>() : std::nan("");
  }
  return metrics;
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace tuner::server
