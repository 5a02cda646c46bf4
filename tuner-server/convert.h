// Conversions between the three shapes of the same concepts: search/ (policy types), storage/
// rows (JSON text and state names) and proto messages. One place, so a name means one thing.
#ifndef TUNER_TUNER_SERVER_CONVERT_H_
#define TUNER_TUNER_SERVER_CONVERT_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"
#include "proto/tuner.pb.h"
#include "search/policy.h"

namespace tuner::server {

namespace v1 = ::tuner::v1;

// "PENDING", "RUNNING", ... (the proto enum names, also stored in SQLite).
const char* TrialStateName(search::TrialState state);
std::optional<search::TrialState> ParseTrialState(const std::string& name);
v1::TrialState ToProto(search::TrialState state);
std::optional<search::TrialState> FromProto(v1::TrialState state);
// A trial that will never train again.
bool IsFinal(search::TrialState state);

std::string ParamsToJson(const search::Params& params);
absl::StatusOr<search::Params> ParamsFromJson(const std::string& json);
void ParamsToProto(const search::Params& params,
                   google::protobuf::Map<std::string, v1::ParamValue>* out);

std::string MetricsToJson(const std::map<std::string, double>& metrics);
std::map<std::string, double> MetricsFromJson(const std::string& json);

// absl and gRPC share their status codes one to one.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_CONVERT_H_
