#include "trial-worker/training/trainer_spec.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "trial-worker/training/command_config.h"
#include "trial-worker/training/synthetic_config.h"
#include "trial-worker/training/torch_config.h"

namespace tuner::worker {
namespace {

// The values of `param` worth trying against the trainer: every choice, a range's ends.
std::vector<search::ParamValue> ProbeValues(const search::ParamSpec& param) {
  switch (param.kind) {
    case search::ParamKind::kChoice:
      return param.values;
    case search::ParamKind::kInt:
      return {static_cast<int64_t>(param.min), static_cast<int64_t>(param.max)};
    case search::ParamKind::kFloat:
      return {param.min, param.max};
  }
  return {};
}

// A command's placeholders must name params of the space: a typo would otherwise reach the
// program as the literal text, or drop its argument, in every trial.
absl::Status ValidateCommandSpec(const search::StudySpec& spec, const nlohmann::json& trainer) {
  absl::StatusOr<CommandConfig> config = ParseCommandConfig(trainer);
  if (!config.ok()) return config.status();
  const std::vector<Placeholder> names = CommandPlaceholders(*config);
  std::vector<std::string> params;
  for (const search::ParamSpec& param : spec.space.params) params.push_back(param.name);
  for (const Placeholder& p : names) {
    if (std::find(params.begin(), params.end(), p.name) == params.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trainer.", p.field, ": {", p.name, "} is not a search_space param (params: ",
          params.empty() ? "none" : absl::StrJoin(params, ", "),
          "; write {{ and }} for literal braces)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& ReportedMetrics(const std::string& trainer_kind) {
  if (trainer_kind == "torch") return torchtrainer::TorchReportedMetrics();
  return SyntheticReportedMetrics();
}

absl::Status CheckObjectiveMetric(const std::string& trainer_kind, const std::string& metric) {
  if (trainer_kind == "command") return absl::OkStatus();  // the program reports what it likes
  const std::vector<std::string>& metrics = ReportedMetrics(trainer_kind);
  if (std::find(metrics.begin(), metrics.end(), metric) == metrics.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "objective.metric: \"", metric, "\" is not reported by trainer.kind ", trainer_kind,
        " (allowed: ", absl::StrJoin(metrics, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTrainerSpec(const search::StudySpec& spec) {
  if (absl::Status s = CheckObjectiveMetric(spec.trainer_kind, spec.objective_metric); !s.ok()) {
    return s;
  }
  const nlohmann::json trainer = nlohmann::json::parse(spec.trainer_json, nullptr, false);
  if (trainer.is_discarded() || !trainer.is_object()) {
    return absl::InvalidArgumentError("trainer: must be a mapping of fields");
  }
  if (spec.trainer_kind == "command") return ValidateCommandSpec(spec, trainer);
  std::function<absl::Status(const search::Params&)> parse;
  // Params the trainer section names (a backbone chosen by the search): every trial has
  // them, so each check below runs with them at their first value.
  search::Params base;
  if (spec.trainer_kind == "torch") {
    for (const std::string& name : torchtrainer::TorchTrainerParamRefs(trainer)) {
      const auto it = std::find_if(spec.space.params.begin(), spec.space.params.end(),
                                   [&](const search::ParamSpec& p) { return p.name == name; });
      if (it == spec.space.params.end() || ProbeValues(*it).empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "trainer.backbone.name: names param \"", name,
            "\", which search_space does not define (add a choice of backbone names)"));
      }
      base[name] = ProbeValues(*it).front();
    }
    parse = [&](const search::Params& params) {
      return torchtrainer::ParseTorchTrainerConfig(trainer, params).status();
    };
  } else {
    parse = [&](const search::Params&) { return ParseSyntheticConfig(trainer).status(); };
  }
  if (absl::Status s = parse(base); !s.ok()) return s;
  for (const search::ParamSpec& param : spec.space.params) {
    for (const search::ParamValue& value : ProbeValues(param)) {
      search::Params probe = base;
      probe[param.name] = value;
      if (absl::Status s = parse(probe); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "search_space.", param.name, ": the value ", search::ParamValueToString(value),
            " is refused by trainer.kind ", spec.trainer_kind, ": ", s.message()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tuner::worker
