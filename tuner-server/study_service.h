// StudyServiceImpl: the users' gRPC API. Thin: validates nothing itself beyond what the
// scheduler does, and turns scheduler results into gRPC statuses.
#ifndef TUNER_TUNER_SERVER_STUDY_SERVICE_H_
#define TUNER_TUNER_SERVER_STUDY_SERVICE_H_

#include "boost/asio/io_context.hpp"
#include "proto/tuner.grpc.pb.h"
#include "tuner-server/auth.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {

// Thread-safe. Does not own the scheduler, the authenticator or the io_context (used for WatchStudy's refresh
// timer); both outlive the service.
class StudyServiceImpl final : public v1::StudyService::CallbackService {
 public:
  StudyServiceImpl(Scheduler* scheduler, const Authenticator* auth, boost::asio::io_context* io,
                   double watch_interval_s)
      : scheduler_(scheduler), auth_(auth), io_(io), watch_interval_s_(watch_interval_s) {
    CheckUtf8OfRequests();
  }

  grpc::ServerUnaryReactor* CreateStudy(grpc::CallbackServerContext* context,
                                        const v1::CreateStudyRequest* request,
                                        v1::CreateStudyResponse* response) override;
  grpc::ServerUnaryReactor* GetStudy(grpc::CallbackServerContext* context,
                                     const v1::GetStudyRequest* request,
                                     v1::Study* response) override;
  grpc::ServerUnaryReactor* ListStudies(grpc::CallbackServerContext* context,
                                        const v1::ListStudiesRequest* request,
                                        v1::ListStudiesResponse* response) override;
  grpc::ServerUnaryReactor* ListTrials(grpc::CallbackServerContext* context,
                                       const v1::ListTrialsRequest* request,
                                       v1::ListTrialsResponse* response) override;
  grpc::ServerUnaryReactor* GetBestTrials(grpc::CallbackServerContext* context,
                                          const v1::GetBestTrialsRequest* request,
                                          v1::GetBestTrialsResponse* response) override;
  grpc::ServerUnaryReactor* StopStudy(grpc::CallbackServerContext* context,
                                      const v1::StopStudyRequest* request,
                                      v1::Study* response) override;
  grpc::ServerUnaryReactor* EnqueueTrial(grpc::CallbackServerContext* context,
                                         const v1::EnqueueTrialRequest* request,
                                         v1::EnqueueTrialResponse* response) override;
  grpc::ServerWriteReactor<v1::StudyEvent>* WatchStudy(
      grpc::CallbackServerContext* context, const v1::WatchStudyRequest* request) override;
  grpc::ServerUnaryReactor* CreateEnsemble(grpc::CallbackServerContext* context,
                                           const v1::CreateEnsembleRequest* request,
                                           v1::Ensemble* response) override;
  grpc::ServerUnaryReactor* ListEnsembles(grpc::CallbackServerContext* context,
                                          const v1::ListEnsemblesRequest* request,
                                          v1::ListEnsemblesResponse* response) override;
  grpc::ServerUnaryReactor* DeleteStudy(grpc::CallbackServerContext* context,
                                        const v1::DeleteStudyRequest* request,
                                        v1::DeleteStudyResponse* response) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* context,
                                        const v1::ListWorkersRequest* request,
                                        v1::ListWorkersResponse* response) override;

 private:
  // Unary requests with invalid UTF-8 get INVALID_ARGUMENT naming the field (utf8_requests.h).
  void CheckUtf8OfRequests();

  Scheduler* const scheduler_;
  const Authenticator* const auth_;
  boost::asio::io_context* const io_;
  const double watch_interval_s_;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_STUDY_SERVICE_H_
