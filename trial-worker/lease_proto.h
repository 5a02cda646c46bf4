// Helpers shared by the worker loop's trial and ensemble paths: what a lease's proto fields
// become on the trainer's side, and which trainer errors are worth retrying elsewhere.
#ifndef TUNER_TRIAL_WORKER_LEASE_PROTO_H_
#define TUNER_TRIAL_WORKER_LEASE_PROTO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "proto/tuner.pb.h"
#include "search/space.h"

namespace tuner::worker {

// False for the codes that say the work itself is bad (INVALID_ARGUMENT, NOT_FOUND,
// FAILED_PRECONDITION): retrying it elsewhere would fail the same way.
bool IsRetryable(absl::StatusCode code);

// INVALID_ARGUMENT naming params.NAME when a value has no kind.
absl::StatusOr<search::Params> ParamsFromProto(
    const google::protobuf::Map<std::string, v1::ParamValue>& proto);

// The trainer section: an object (empty text: {}); INVALID_ARGUMENT otherwise.
absl::StatusOr<nlohmann::json> TrainerConfigFromJson(const std::string& text);

// trainer.kind, "synthetic" when absent.
absl::StatusOr<std::string> TrainerKind(const nlohmann::json& config);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_LEASE_PROTO_H_
