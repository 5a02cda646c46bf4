// Issue 13 row 5: nothing half-applied. A call whose commit fails changes nothing, in memory or
// in the db (now or after the writes held back by the GroupCommitter land); a retried
// CreateStudy with the same request_id returns the study the first call created, also after
// a restart. The storage failure is another connection holding the db's write lock (the
// writer's busy timeout is 50 ms), which the committer answers UNAVAILABLE as it answers a
// full disk RESOURCE_EXHAUSTED: both are the "transient" failures it used to keep and store
// later.
#include <sqlite3.h>

#include <future>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "proto/tuner.pb.h"
#include "storage/database.h"
#include "storage/group_committer.h"
#include "tests/server/specs.h"
#include "tests/testing/temp_dir.h"
#include "tuner-server/scheduler.h"

namespace tuner::testing {
namespace {

namespace v1 = ::tuner::v1;
using server::Scheduler;

// A Scheduler over a db file, as tuner-server runs it: Restart() drops it and loads a new one
// from what the file holds.
class Server {
 public:
  explicit Server(std::string path) : path_(std::move(path)) { Restart(); }
  ~Server() { Stop(); }

  void Restart() {
    Stop();
    auto writer = storage::Database::Open(path_, /*busy_timeout_ms=*/50);
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
    scheduler_.reset();
    committer_.reset();  // drains: what it keeps to re-apply gets its last try
    reader_.reset();
  }

  Scheduler& scheduler() { return *scheduler_; }
  storage::GroupCommitter& committer() { return *committer_; }

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
  std::vector<v1::Trial> Trials(int64_t study_id) {
    v1::ListTrialsRequest request;
    request.set_study_id(study_id);
    v1::ListTrialsResponse response;
    EXPECT_TRUE(scheduler_->ListTrials(request, &response).ok());
    return {response.trials().begin(), response.trials().end()};
  }
  int64_t RegisterWorker(const std::string& name) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    request.set_host("localhost");
    v1::RegisterWorkerResponse response;
    EXPECT_TRUE(Call([&](Scheduler::Done done) {
                  scheduler_->RegisterWorker(request, &response, std::move(done));
                }).ok());
    return response.worker_id();
  }
  absl::Status Acquire(int64_t worker_id, v1::AcquireTrialResponse* response) {
    v1::AcquireTrialRequest request;
    request.set_worker_id(worker_id);
    return Call([&](Scheduler::Done done) {
      scheduler_->AcquireTrial(request, response, std::move(done));
    });
  }

 private:
  const std::string path_;
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
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~WriteLock() { Release(); }
  void Release() {
    if (!db_) return;
    sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(HalfApplied, RefusedCreateStudyLeavesNoStudyInMemoryOrInTheDb) {
  TempDir dir;
  Server server(dir.File("t.db"));
  {
    WriteLock lock(dir.File("t.db"));
    auto created = server.CreateStudy(RandomSpec(4));
    EXPECT_TRUE(absl::IsUnavailable(created.status())) << created.status();
    EXPECT_TRUE(server.Studies().empty());
  }
  // The lock is gone: the next commit is where held-back writes used to land.
  server.RegisterWorker("w1");
  ASSERT_TRUE(server.committer().Flush().ok());
  EXPECT_TRUE(server.Studies().empty());
  server.Restart();
  EXPECT_TRUE(server.Studies().empty());
  // The next study is the first one.
  auto created = server.CreateStudy(RandomSpec(4));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(server.Studies().size(), 1u);
}

TEST(HalfApplied, FailedAcquireTrialCommitLeavesTheTrialPendingAndLeasable) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto created = server.CreateStudy(RandomSpec(1, 3, 0, /*max_attempts=*/1));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t worker = server.RegisterWorker("w1");
  {
    WriteLock lock(dir.File("t.db"));
    v1::AcquireTrialResponse refused;
    absl::Status status = server.Acquire(worker, &refused);
    EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  }
  ASSERT_TRUE(server.committer().Flush().ok());
  std::vector<v1::Trial> trials = server.Trials(created->study_id());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::PENDING);
  // The only trial (max_trials 1, max_attempts 1) goes to the next call, as its first attempt.
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(server.Acquire(worker, &leased).ok());
  ASSERT_TRUE(leased.has_trial());
  EXPECT_EQ(leased.lease().trial_id(), trials[0].trial_id());
  EXPECT_EQ(leased.lease().attempt(), 1);
  server.Restart();
  trials = server.Trials(created->study_id());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::RUNNING);
  EXPECT_EQ(trials[0].attempt(), 1);
}

TEST(RequestId, ARetriedCreateStudyReturnsTheSameStudyAlsoAfterARestart) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto first = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(first.ok()) << first.status();
  auto retry = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->study_id(), first->study_id());
  EXPECT_EQ(retry->study().study_id(), first->study_id());
  // Another request_id, or none, is another study.
  auto other = server.CreateStudy(RandomSpec(4), "start-study-2");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->study_id(), first->study_id());
  EXPECT_EQ(server.Studies().size(), 2u);
  server.Restart();
  retry = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->study_id(), first->study_id());
  EXPECT_EQ(server.Studies().size(), 2u);
}

TEST(RequestId, ADifferentSpecWithTheSameRequestIdIsRefusedNamingIt) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto first = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(first.ok()) << first.status();
  auto refused = server.CreateStudy(RandomSpec(5), "start-study-1");
  EXPECT_TRUE(absl::IsAlreadyExists(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("request_id"), std::string::npos);
  EXPECT_EQ(server.Studies().size(), 1u);
  server.Restart();
  refused = server.CreateStudy(RandomSpec(5), "start-study-1");
  EXPECT_TRUE(absl::IsAlreadyExists(refused.status())) << refused.status();
  EXPECT_EQ(server.Studies().size(), 1u);
}

TEST(RequestId, ARetryAfterARefusedCommitCreatesTheStudyOnce) {
  TempDir dir;
  Server server(dir.File("t.db"));
  {
    WriteLock lock(dir.File("t.db"));
    auto refused = server.CreateStudy(RandomSpec(4), "start-study-1");
    EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  }
  auto created = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(created.ok()) << created.status();
  auto again = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->study_id(), created->study_id());
  server.Restart();
  EXPECT_EQ(server.Studies().size(), 1u);
}

TEST(RequestId, ARequestIdOver128BytesIsInvalidArgument) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto refused = server.CreateStudy(RandomSpec(4), std::string(129, 'k'));
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("request_id"), std::string::npos);
  EXPECT_TRUE(server.Studies().empty());
}

}  // namespace
}  // namespace tuner::testing
