#include "tuner-server/study_service.h"

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>

#include "boost/asio/steady_timer.hpp"
#include "search/spec_limits.h"
#include "tuner-server/convert.h"
#include "tuner-server/unary.h"

namespace tuner::server {
namespace {

// Streams a study's events: a SNAPSHOT first, then TRIAL_UPDATED for each changed trial and a
// fresh SNAPSHOT whenever something changed (checked every interval on the Asio thread), and
// STUDY_FINISHED last. One write in flight at a time, as gRPC requires. A client that reads
// slowly (or not at all) costs one batch at most: while events are waiting the reactor does
// not poll, so the changes since its last poll coalesce into the next batch (each changed
// trial once, one snapshot). Snapshots leave spec_yaml out unless the request asks for it.
class WatchReactor : public grpc::ServerWriteReactor<v1::StudyEvent> {
 public:
  WatchReactor(Scheduler* scheduler, boost::asio::io_context* io, int64_t study_id,
               bool with_spec_yaml, double interval_s)
      : scheduler_(scheduler), study_id_(study_id), with_spec_yaml_(with_spec_yaml), interval_(std::chrono::duration_cast<
            std::chrono::steady_clock::duration>(std::chrono::duration<double>(interval_s))),
        shared_(std::make_shared<Shared>()), timer_(std::make_shared<boost::asio::steady_timer>(*io)) {
    shared_->self = this;
    std::lock_guard<std::mutex> lock(shared_->mu);
    PollLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch stream broken"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->self = nullptr;
    }
    timer_->cancel();
    delete this;
  }

 private:
  // Outlives the reactor so a timer that fires after OnDone finds self == nullptr.
  struct Shared {
    std::mutex mu;
    WatchReactor* self = nullptr;
  };

  void PollLocked() {
    if (finished_) return;
    if (writing_ || !queue_.empty()) {  // the client has not taken the last batch yet
      ArmTimerLocked();
      return;
    }
    v1::Study study;
    std::vector<v1::Trial> changed;
    bool study_over = false;
    absl::Status s = scheduler_->Poll(study_id_, &version_, &study, &changed, &study_over);
    if (!s.ok()) {
      FinishLocked(ToGrpc(s));
      return;
    }
    if (!with_spec_yaml_) study.clear_spec_yaml();
    const bool first = !sent_first_;
    if (first || !changed.empty() || study_over) {
      for (v1::Trial& trial : changed) {
        if (first) break;  // the first snapshot already holds them
        v1::StudyEvent event;
        event.set_kind(v1::StudyEvent::TRIAL_UPDATED);
        *event.mutable_trial() = std::move(trial);
        queue_.push_back(std::move(event));
      }
      v1::StudyEvent snapshot;
      snapshot.set_kind(study_over ? v1::StudyEvent::STUDY_FINISHED : v1::StudyEvent::SNAPSHOT);
      *snapshot.mutable_study() = std::move(study);
      queue_.push_back(std::move(snapshot));
      sent_first_ = true;
    }
    closing_ = study_over;
    WriteNextLocked();
    if (!closing_) ArmTimerLocked();
  }

  void ArmTimerLocked() {
    timer_->expires_after(interval_);
    std::shared_ptr<Shared> shared = shared_;
    timer_->async_wait([shared](const boost::system::error_code& error) {
      if (error) return;
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->self != nullptr) shared->self->PollLocked();
    });
  }

  void WriteNextLocked() {
    if (writing_ || finished_) return;
    if (queue_.empty()) {
      if (closing_) FinishLocked(grpc::Status::OK);
      return;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  Scheduler* const scheduler_;
  const int64_t study_id_;
  const bool with_spec_yaml_;
  const std::chrono::steady_clock::duration interval_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<boost::asio::steady_timer> timer_;

  // Guarded by shared_->mu.
  uint64_t version_ = 0;
  bool sent_first_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  std::deque<v1::StudyEvent> queue_;
  v1::StudyEvent current_;
};

}  // namespace

grpc::ServerUnaryReactor* StudyServiceImpl::CreateStudy(grpc::CallbackServerContext* context,
                                                        const v1::CreateStudyRequest* request,
                                                        v1::CreateStudyResponse* response) {
  // The spec limits apply to new studies only (a stored spec loads whatever its size), so
  // they are checked here, before the scheduler parses the spec.
  if (absl::Status s = auth_->Check(*context); !s.ok()) return Answer(context, s);
  if (absl::Status s = search::CheckSpecLimits(request->spec_yaml()); !s.ok()) {
    return Answer(context, s);
  }
  return Forward(context, *auth_, scheduler_, &Scheduler::CreateStudy, request, response);
}

grpc::ServerUnaryReactor* StudyServiceImpl::GetStudy(grpc::CallbackServerContext* context,
                                                     const v1::GetStudyRequest* request,
                                                     v1::Study* response) {
  return Guarded(context, *auth_, [&] { return scheduler_->GetStudy(request->study_id(), response); });
}

grpc::ServerUnaryReactor* StudyServiceImpl::ListStudies(grpc::CallbackServerContext* context,
                                                        const v1::ListStudiesRequest* request,
                                                        v1::ListStudiesResponse* response) {
  return Guarded(context, *auth_, [&] { return scheduler_->ListStudies(*request, response); });
}

grpc::ServerUnaryReactor* StudyServiceImpl::ListTrials(grpc::CallbackServerContext* context,
                                                       const v1::ListTrialsRequest* request,
                                                       v1::ListTrialsResponse* response) {
  return Guarded(context, *auth_, [&] { return scheduler_->ListTrials(*request, response); });
}

grpc::ServerUnaryReactor* StudyServiceImpl::GetBestTrials(grpc::CallbackServerContext* context,
                                                          const v1::GetBestTrialsRequest* request,
                                                          v1::GetBestTrialsResponse* response) {
  return Guarded(context, *auth_, [&] { return scheduler_->GetBestTrials(*request, response); });
}

grpc::ServerUnaryReactor* StudyServiceImpl::StopStudy(grpc::CallbackServerContext* context,
                                                      const v1::StopStudyRequest* request,
                                                      v1::Study* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return Answer(context, s);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  scheduler_->StopStudy(request->study_id(), response,
                        [reactor](const absl::Status& s) { reactor->Finish(ToGrpc(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* StudyServiceImpl::EnqueueTrial(grpc::CallbackServerContext* context,
                                                         const v1::EnqueueTrialRequest* request,
                                                         v1::EnqueueTrialResponse* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::EnqueueTrial, request, response);
}

grpc::ServerWriteReactor<v1::StudyEvent>* StudyServiceImpl::WatchStudy(
    grpc::CallbackServerContext* context, const v1::WatchStudyRequest* request) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) {
    return new Refusal<grpc::ServerWriteReactor<v1::StudyEvent>>(s);
  }
  return new WatchReactor(scheduler_, io_, request->study_id(), request->with_spec_yaml(),
                          watch_interval_s_);
}

grpc::ServerUnaryReactor* StudyServiceImpl::CreateEnsemble(grpc::CallbackServerContext* context,
                                                           const v1::CreateEnsembleRequest* request,
                                                           v1::Ensemble* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::CreateEnsemble, request, response);
}

grpc::ServerUnaryReactor* StudyServiceImpl::ListEnsembles(grpc::CallbackServerContext* context,
                                                          const v1::ListEnsemblesRequest* request,
                                                          v1::ListEnsemblesResponse* response) {
  return Guarded(context, *auth_, [&] { return scheduler_->ListEnsembles(*request, response); });
}

grpc::ServerUnaryReactor* StudyServiceImpl::DeleteStudy(grpc::CallbackServerContext* context,
                                                        const v1::DeleteStudyRequest* request,
                                                        v1::DeleteStudyResponse* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::DeleteStudy, request, response);
}

grpc::ServerUnaryReactor* StudyServiceImpl::ListWorkers(grpc::CallbackServerContext* context,
                                                        const v1::ListWorkersRequest* request,
                                                        v1::ListWorkersResponse* response) {
  return Guarded(context, *auth_, [&] { return scheduler_->ListWorkers(*request, response); });
}

}  // namespace tuner::server
