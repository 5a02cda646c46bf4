// Both services' unary methods behind the UTF-8 check of utf8_requests.h: a request whose
// string fields are not valid UTF-8 is answered INVALID_ARGUMENT naming the field instead of
// gRPC's bare UNIMPLEMENTED.
#include "tuner-server/study_service.h"
#include "tuner-server/utf8_requests.h"
#include "tuner-server/worker_service.h"

namespace tuner::server {

void StudyServiceImpl::CheckUtf8OfRequests() {
  const char* const service = v1::StudyService::service_full_name();
  using S = StudyServiceImpl;
  for (auto [index, handler] : {
           Utf8Checked(this, service, "CreateStudy", &S::CreateStudy),
           Utf8Checked(this, service, "GetStudy", &S::GetStudy),
           Utf8Checked(this, service, "ListStudies", &S::ListStudies),
           Utf8Checked(this, service, "ListTrials", &S::ListTrials),
           Utf8Checked(this, service, "GetBestTrials", &S::GetBestTrials),
           Utf8Checked(this, service, "StopStudy", &S::StopStudy),
           Utf8Checked(this, service, "EnqueueTrial", &S::EnqueueTrial),
           Utf8Checked(this, service, "CreateEnsemble", &S::CreateEnsemble),
           Utf8Checked(this, service, "ListEnsembles", &S::ListEnsembles),
           Utf8Checked(this, service, "ListWorkers", &S::ListWorkers),
           Utf8Checked(this, service, "DeleteStudy", &S::DeleteStudy),
       }) {
    MarkMethodCallback(index, handler);
  }
}

void WorkerServiceImpl::CheckUtf8OfRequests() {
  const char* const service = v1::WorkerService::service_full_name();
  using S = WorkerServiceImpl;
  for (auto [index, handler] : {
           Utf8Checked(this, service, "RegisterWorker", &S::RegisterWorker),
           Utf8Checked(this, service, "AcquireTrial", &S::AcquireTrial),
           Utf8Checked(this, service, "Heartbeat", &S::Heartbeat),
           Utf8Checked(this, service, "ReportIntermediate", &S::ReportIntermediate),
           Utf8Checked(this, service, "CompleteTrial", &S::CompleteTrial),
           Utf8Checked(this, service, "FailTrial", &S::FailTrial),
           Utf8Checked(this, service, "CompleteEnsemble", &S::CompleteEnsemble),
           Utf8Checked(this, service, "FailEnsemble", &S::FailEnsemble),
       }) {
    MarkMethodCallback(index, handler);
  }
}

}  // namespace tuner::server
