// Issue 13 row 5's test harness: a Scheduler over a db file, as tuner-server runs it, that a
// test restarts from what the file holds, and another connection that holds the db's write
// lock (the committer answers it UNAVAILABLE, as it answers a full disk RESOURCE_EXHAUSTED:
// both are the "transient" failures whose writes it used to keep and store later).
#ifndef TUNER_TESTS_SERVER_DB_SERVER_H_
#define TUNER_TESTS_SERVER_DB_SERVER_H_

#include <sqlite3.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/tuner.pb.h"
#include "storage/database.h"
#include "storage/group_committer.h"
#include "tuner-server/scheduler.h"

namespace tuner::testing {

namespace v1 = ::tuner::v1;
using server::Scheduler;

// Restart() drops the Scheduler and loads a new one from the file. The writer waits
// busy_timeout_ms for a locked db before its commit fails.
class Server {
 public:
  explicit Server(std::string path, int busy_timeout_ms = 50)
      : path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {
    Restart();
  }
  ~Server() { Stop(); }

  void Restart() {
    Stop();
    auto writer = storage::Database::Open(path_, busy_timeout_ms_);
    auto reader = storage::Database::Open(path_);
    ASSERT_TRUE(writer.ok() && reader.ok());
    auto snapshot = (*writer)->LoadSnapshot();
    auto checkpoints = (*writer)->LoadCheckpoints();
    ASSERT_TRUE(snapshot.ok() && checkpoints.ok());
    committer_ = std::make_unique<storage::GroupCommitter>(std::move(*writer));
    reader_ = std::move(*reader);
    server::SchedulerOptions options;
    options.clock = [this] { return now_; };
    scheduler_ = std::make_unique<Scheduler>(options, committer_.get(), reader_.get());
    ASSERT_TRUE(scheduler_->Load(*snapshot, *checkpoints).ok());
  }
  void Stop() {
    // The committer first: it drains (what it keeps to re-apply gets its last try) and runs
    // the callbacks still due, which use the scheduler.
    committer_.reset();
    scheduler_.reset();
    reader_.reset();
  }

  Scheduler& scheduler() { return *scheduler_; }
  storage::GroupCommitter& committer() { return *committer_; }
  // The scheduler's clock (unix seconds), moved on by a test.
  void Wait(double seconds) { now_ += seconds; }

  // Calls an RPC and waits for its answer.
  template <typename Fn>
  absl::Status Call(Fn fn) {
    auto answer = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> got = answer->get_future();
    fn([answer](const absl::Status& s) { answer->set_value(s); });
    return got.get();
  }
  absl::StatusOr<v1::CreateStudyResponse> CreateStudy(const std::string& spec,
                                                      const std::string& request_id = "") {
    v1::CreateStudyRequest request;
    request.set_spec_yaml(spec);
    if (!request_id.empty()) request.set_request_id(request_id);
    v1::CreateStudyResponse response;
    absl::Status s = Call([&](Scheduler::Done done) {
      scheduler_->CreateStudy(request, &response, std::move(done));
    });
    if (!s.ok()) return s;
    return response;
  }
  std::vector<v1::Study> Studies() {
    v1::ListStudiesResponse response;
    EXPECT_TRUE(scheduler_->ListStudies({}, &response).ok());
    return {response.studies().begin(), response.studies().end()};
  }
  v1::Study GetStudy(int64_t study_id) {
    v1::Study study;
    EXPECT_TRUE(scheduler_->GetStudy(study_id, &study).ok());
    return study;
  }
  std::vector<v1::Trial> Trials(int64_t study_id, bool with_intermediate_values = false) {
    v1::ListTrialsRequest request;
    request.set_study_id(study_id);
    request.set_with_intermediate_values(with_intermediate_values);
    v1::ListTrialsResponse response;
    EXPECT_TRUE(scheduler_->ListTrials(request, &response).ok());
    return {response.trials().begin(), response.trials().end()};
  }
  absl::Status Register(const std::string& name, v1::RegisterWorkerResponse* response) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    request.set_host("localhost");
    return Call([&](Scheduler::Done done) {
      scheduler_->RegisterWorker(request, response, std::move(done));
    });
  }
  int64_t RegisterWorker(const std::string& name) {
    v1::RegisterWorkerResponse response;
    EXPECT_TRUE(Register(name, &response).ok());
    return response.worker_id();
  }
  absl::Status Acquire(int64_t worker_id, v1::AcquireTrialResponse* response,
                       bool accepts_ensembles = false) {
    v1::AcquireTrialRequest request;
    request.set_worker_id(worker_id);
    request.set_accepts_ensembles(accepts_ensembles);
    return Call([&](Scheduler::Done done) {
      scheduler_->AcquireTrial(request, response, std::move(done));
    });
  }
  static v1::CompleteTrialRequest CompleteRequest(const v1::Lease& lease, double value,
                                                  const std::string& checkpoint_id = "") {
    v1::CompleteTrialRequest request;
    *request.mutable_lease() = lease;
    request.set_value(value);
    request.set_epochs_done(1);
    request.set_checkpoint_id(checkpoint_id);
    return request;
  }
  absl::Status Complete(const v1::Lease& lease, double value,
                        const std::string& checkpoint_id = "") {
    v1::CompleteTrialResponse response;
    return Call([&](Scheduler::Done done) {
      scheduler_->CompleteTrial(CompleteRequest(lease, value, checkpoint_id), &response,
                                std::move(done));
    });
  }
  absl::Status Fail(const v1::Lease& lease, bool retryable) {
    v1::FailTrialRequest request;
    *request.mutable_lease() = lease;
    request.set_reason("broken");
    request.set_retryable(retryable);
    v1::FailTrialResponse response;
    return Call([&](Scheduler::Done done) {
      scheduler_->FailTrial(request, &response, std::move(done));
    });
  }
  absl::Status Report(const v1::Lease& lease, int epoch, double value,
                      v1::ReportIntermediateResponse* response = nullptr) {
    v1::ReportIntermediateRequest request;
    *request.mutable_lease() = lease;
    request.mutable_intermediate()->set_epoch(epoch);
    request.mutable_intermediate()->set_value(value);
    v1::ReportIntermediateResponse ignored;
    return Call([&](Scheduler::Done done) {
      scheduler_->ReportIntermediate(request, response ? response : &ignored, std::move(done));
    });
  }
  absl::Status Heartbeat(const v1::Lease& lease, v1::HeartbeatResponse* response) {
    v1::HeartbeatRequest request;
    *request.mutable_lease() = lease;
    return Call([&](Scheduler::Done done) {
      scheduler_->Heartbeat(request, response, std::move(done));
    });
  }
  absl::Status StopStudy(int64_t study_id) {
    v1::Study response;
    return Call([&](Scheduler::Done done) {
      scheduler_->StopStudy(study_id, &response, std::move(done));
    });
  }
  absl::Status Enqueue(const v1::EnqueueTrialRequest& request,
                       v1::EnqueueTrialResponse* response) {
    return Call([&](Scheduler::Done done) {
      scheduler_->EnqueueTrial(request, response, std::move(done));
    });
  }

 private:
  const std::string path_;
  const int busy_timeout_ms_;
  double now_ = 1.0e9;
  std::unique_ptr<storage::GroupCommitter> committer_;
  std::unique_ptr<storage::Database> reader_;
  std::unique_ptr<Scheduler> scheduler_;
};

// Another connection that holds the db's write lock while it lives.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    // Waits for a commit the server may still be making (a previous call's follow-ups).
    sqlite3_busy_timeout(db_, 10000);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~WriteLock() { Release(); }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;
  void Release() {
    if (!db_) return;
    sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace tuner::testing

#endif  // TUNER_TESTS_SERVER_DB_SERVER_H_
