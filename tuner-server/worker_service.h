// WorkerServiceImpl: the workers' gRPC API. Unary calls go straight to the scheduler;
// checkpoint uploads and downloads stream files through the CheckpointStore.
#ifndef TUNER_TUNER_SERVER_WORKER_SERVICE_H_
#define TUNER_TUNER_SERVER_WORKER_SERVICE_H_

#include "proto/tuner.grpc.pb.h"
#include "tuner-server/checkpoint_store.h"
#include "tuner-server/auth.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {

// Thread-safe. Does not own the scheduler, the authenticator or the store; both outlive the service.
class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  WorkerServiceImpl(Scheduler* scheduler, const Authenticator* auth, CheckpointStore* store)
      : scheduler_(scheduler), auth_(auth), store_(store) {
    CheckUtf8OfRequests();
  }

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* context,
                                           const v1::RegisterWorkerRequest* request,
                                           v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* AcquireTrial(grpc::CallbackServerContext* context,
                                         const v1::AcquireTrialRequest* request,
                                         v1::AcquireTrialResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ReportIntermediate(grpc::CallbackServerContext* context,
                                               const v1::ReportIntermediateRequest* request,
                                               v1::ReportIntermediateResponse* response) override;
  grpc::ServerUnaryReactor* CompleteTrial(grpc::CallbackServerContext* context,
                                          const v1::CompleteTrialRequest* request,
                                          v1::CompleteTrialResponse* response) override;
  grpc::ServerUnaryReactor* FailTrial(grpc::CallbackServerContext* context,
                                      const v1::FailTrialRequest* request,
                                      v1::FailTrialResponse* response) override;
  grpc::ServerReadReactor<v1::CheckpointChunk>* UploadCheckpoint(
      grpc::CallbackServerContext* context, v1::UploadCheckpointResponse* response) override;
  grpc::ServerWriteReactor<v1::CheckpointChunk>* DownloadCheckpoint(
      grpc::CallbackServerContext* context, const v1::DownloadCheckpointRequest* request) override;
  grpc::ServerUnaryReactor* CompleteEnsemble(grpc::CallbackServerContext* context,
                                             const v1::CompleteEnsembleRequest* request,
                                             v1::Ensemble* response) override;
  grpc::ServerUnaryReactor* FailEnsemble(grpc::CallbackServerContext* context,
                                         const v1::FailEnsembleRequest* request,
                                         v1::Ensemble* response) override;

 private:
  // Unary requests with invalid UTF-8 get INVALID_ARGUMENT naming the field (utf8_requests.h).
  void CheckUtf8OfRequests();

  Scheduler* const scheduler_;
  const Authenticator* const auth_;
  CheckpointStore* const store_;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_WORKER_SERVICE_H_
