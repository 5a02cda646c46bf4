#include "trial-worker/lease_proto.h"

#include "absl/strings/str_cat.h"

namespace tuner::worker {

bool IsRetryable(absl::StatusCode code) {
  return code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kNotFound &&
         code != absl::StatusCode::kFailedPrecondition;
}

absl::StatusOr<search::Params> ParamsFromProto(
    const google::protobuf::Map<std::string, v1::ParamValue>& proto) {
  search::Params params;
  for (const auto& [name, value] : proto) {
    switch (value.kind_case()) {
      case v1::ParamValue::kIntValue:
        params[name] = value.int_value();
        break;
      case v1::ParamValue::kFloatValue:
        params[name] = value.float_value();
        break;
      case v1::ParamValue::kStringValue:
        params[name] = value.string_value();
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("params.", name, ": has no value"));
    }
  }
  return params;
}

absl::StatusOr<nlohmann::json> TrainerConfigFromJson(const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError("trainer_config_json: must be a JSON object");
  }
  return config;
}

absl::StatusOr<std::string> TrainerKind(const nlohmann::json& config) {
  auto it = config.find("kind");
  if (it == config.end() || it->is_null()) return std::string("synthetic");
  if (!it->is_string()) {
    return absl::InvalidArgumentError("trainer.kind: must be a string (synthetic or torch)");
  }
  return it->get<std::string>();
}

}  // namespace tuner::worker
