// Request validation: the checks of an RPC's own fields, made before the Scheduler looks at
// (or locks) any state. Each answers OK or INVALID_ARGUMENT naming the field and what it
// allows; checks that need state (a lease still held, an epoch within the trial's budget, a
// study that exists) stay with the Scheduler. Checks run in the order of the request's
// fields, the lease last, so the first bad field is the one named.
//
// Thread-safety: pure functions of their arguments.
#ifndef TUNER_TUNER_SERVER_REQUEST_VALIDATION_H_
#define TUNER_TUNER_SERVER_REQUEST_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/tuner.pb.h"
#include "search/space.h"

namespace tuner::server {

// CreateStudy's request_id: a client's retry key (tunectl sends 32 hex digits).
inline constexpr size_t kMaxRequestIdBytes = 128;
// CreateEnsemble's k is at most this.
inline constexpr int kMaxEnsembleK = 100;

// ---- StudyService
absl::Status ValidateCreateStudy(const v1::CreateStudyRequest& request);
absl::Status ValidateGetBestTrials(const v1::GetBestTrialsRequest& request);
// The request's params as search::Params (not yet checked against the study's space).
absl::StatusOr<search::Params> ParamsOfEnqueue(const v1::EnqueueTrialRequest& request);
absl::Status ValidateCreateEnsemble(const v1::CreateEnsembleRequest& request);

// ---- WorkerService
// Worker names and devices end up in logs, the db and terminal tables: a small charset.
absl::Status ValidateRegisterWorker(const v1::RegisterWorkerRequest& request);
absl::Status ValidateAcquireTrial(const v1::AcquireTrialRequest& request);
// A lease's own fields: a trial lease names trial_id > 0, an ensemble lease (ensemble_id set)
// ensemble_id > 0; both attempt > 0.
absl::Status ValidateTrialLease(const v1::Lease& lease);
absl::Status ValidateEnsembleLease(const v1::Lease& lease);
// Either kind, as lease.ensemble_id() says.
absl::Status ValidateAnyLease(const v1::Lease& lease);
absl::Status ValidateReportIntermediate(const v1::ReportIntermediateRequest& request);
absl::Status ValidateCompleteTrial(const v1::CompleteTrialRequest& request);
absl::Status ValidateFailTrial(const v1::FailTrialRequest& request);
absl::Status ValidateCompleteEnsemble(const v1::CompleteEnsembleRequest& request);
absl::Status ValidateFailEnsemble(const v1::FailEnsembleRequest& request);

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_REQUEST_VALIDATION_H_
