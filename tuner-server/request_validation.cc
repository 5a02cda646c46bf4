#include "tuner-server/request_validation.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "search/spec_limits.h"
#include "common/utf8.h"

namespace tuner::server {
namespace {

bool AllIn(const std::string& text, const char* extra) {
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr(extra, c) == nullptr) {
      return false;
    }
  }
  return true;
}

absl::Status ValidateMetrics(const google::protobuf::Map<std::string, double>& metrics,
                             const char* field) {
  if (metrics.size() > 64) return absl::InvalidArgumentError(absl::StrCat(field, ": at most 64"));
  for (const auto& [name, value] : metrics) {
    if (name.empty() || name.size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": metric names must have 1 to 64 characters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ------------------------------------------------------------------ StudyService

absl::Status ValidateCreateStudy(const v1::CreateStudyRequest& request) {
  if (request.spec_yaml().empty()) {
    return absl::InvalidArgumentError("spec_yaml: must not be empty");
  }
  // The spec's size and param count: search::CheckSpecLimits (the handler checks it first).
  if (absl::Status limits = search::CheckSpecLimits(request.spec_yaml()); !limits.ok()) {
    return limits;
  }
  if (request.request_id().size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id: must be at most ", kMaxRequestIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateGetBestTrials(const v1::GetBestTrialsRequest& request) {
  if (request.k() < 0 || request.k() > 10000) {
    return absl::InvalidArgumentError("k: must be between 0 and 10000 (0 means 1)");
  }
  return absl::OkStatus();
}

absl::StatusOr<search::Params> ParamsOfEnqueue(const v1::EnqueueTrialRequest& request) {
  search::Params given;
  for (const auto& [name, value] : request.params()) {
    switch (value.kind_case()) {
      case v1::ParamValue::kIntValue:
        given[name] = value.int_value();
        break;
      case v1::ParamValue::kFloatValue:
        given[name] = value.float_value();
        break;
      case v1::ParamValue::kStringValue:
        given[name] = value.string_value();
        break;
      case v1::ParamValue::KIND_NOT_SET:
        return absl::InvalidArgumentError(absl::StrCat("params.", name, ": has no value"));
    }
  }
  return given;
}

absl::Status ValidateCreateEnsemble(const v1::CreateEnsembleRequest& request) {
  if (request.k() < 1 || request.k() > kMaxEnsembleK) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: must be between 1 and ", kMaxEnsembleK, " (got ", request.k(), ")"));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ WorkerService

absl::Status ValidateRegisterWorker(const v1::RegisterWorkerRequest& request) {
  if (request.name().empty() || request.name().size() > 256 || !AllIn(request.name(), "._:@/-")) {
    return absl::InvalidArgumentError(
        "name: must have 1 to 256 characters from A-Z a-z 0-9 . _ : @ / -");
  }
  if (request.host().size() > 256) {
    return absl::InvalidArgumentError("host: at most 256 characters");
  }
  for (char c : request.host()) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("host: printable ASCII characters only");
    }
  }
  if (request.devices_size() > 64) {
    return absl::InvalidArgumentError("devices: at most 64");
  }
  for (const std::string& device : request.devices()) {
    if (device.empty() || device.size() > 64 || !AllIn(device, ":._-")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "devices: \"", TruncateUtf8(device, 64),
          "\" is not a device name (1 to 64 characters from A-Z a-z 0-9 : . _ -)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAcquireTrial(const v1::AcquireTrialRequest& request) {
  if (!(request.wait_seconds() >= 0) || !std::isfinite(request.wait_seconds())) {
    return absl::InvalidArgumentError("wait_seconds: must be a finite number >= 0");
  }
  return absl::OkStatus();
}

absl::Status ValidateTrialLease(const v1::Lease& lease) {
  if (lease.trial_id() <= 0) return absl::InvalidArgumentError("lease.trial_id: must be > 0");
  if (lease.attempt() <= 0) return absl::InvalidArgumentError("lease.attempt: must be > 0");
  return absl::OkStatus();
}

absl::Status ValidateEnsembleLease(const v1::Lease& lease) {
  if (lease.ensemble_id() <= 0) {
    return absl::InvalidArgumentError("lease.ensemble_id: must be > 0");
  }
  if (lease.attempt() <= 0) return absl::InvalidArgumentError("lease.attempt: must be > 0");
  return absl::OkStatus();
}

absl::Status ValidateAnyLease(const v1::Lease& lease) {
  return lease.ensemble_id() != 0 ? ValidateEnsembleLease(lease) : ValidateTrialLease(lease);
}

absl::Status ValidateReportIntermediate(const v1::ReportIntermediateRequest& request) {
  const v1::IntermediateValue& value = request.intermediate();
  if (value.epoch() < 1) {
    return absl::InvalidArgumentError("intermediate.epoch: must be >= 1");
  }
  if (!std::isfinite(value.value())) {
    return absl::InvalidArgumentError(
        "intermediate.value: must be finite (fail the trial instead)");
  }
  if (auto s = ValidateMetrics(value.metrics(), "intermediate.metrics"); !s.ok()) return s;
  return ValidateTrialLease(request.lease());
}

absl::Status ValidateCompleteTrial(const v1::CompleteTrialRequest& request) {
  if (!std::isfinite(request.value())) {
    return absl::InvalidArgumentError("value: must be finite (fail the trial instead)");
  }
  if (auto s = ValidateMetrics(request.metrics(), "metrics"); !s.ok()) return s;
  return ValidateTrialLease(request.lease());
}

absl::Status ValidateFailTrial(const v1::FailTrialRequest& request) {
  if (request.reason().empty()) {
    return absl::InvalidArgumentError("reason: must say why the trial failed");
  }
  return ValidateTrialLease(request.lease());
}

absl::Status ValidateCompleteEnsemble(const v1::CompleteEnsembleRequest& request) {
  const auto is_fraction = [](double x) { return std::isfinite(x) && x >= 0 && x <= 1; };
  if (!is_fraction(request.test_accuracy())) {
    return absl::InvalidArgumentError("test_accuracy: must be a number in [0, 1]");
  }
  for (double accuracy : request.member_test_accuracies()) {
    if (!is_fraction(accuracy)) {
      return absl::InvalidArgumentError(
          "member_test_accuracies: each must be a number in [0, 1]");
    }
  }
  if (request.test_images() < 1) {
    return absl::InvalidArgumentError("test_images: must be >= 1");
  }
  return ValidateEnsembleLease(request.lease());
}

absl::Status ValidateFailEnsemble(const v1::FailEnsembleRequest& request) {
  if (request.reason().empty()) {
    return absl::InvalidArgumentError("reason: must say why the ensemble failed");
  }
  return ValidateEnsembleLease(request.lease());
}

}  // namespace tuner::server
