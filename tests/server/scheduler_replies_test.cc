// Replies are never sent under the Scheduler's lock (issue 13 item 7). Each case makes one
// Scheduler call whose Done callback re-enters the Scheduler (ParkedAcquires and Gauges take
// its mutex). A callback run while the mutex is held deadlocks the calling thread, which the
// test sees as a call that does not return within kPatience. Refusals (wrong lease, unknown
// study, a limit reached) and answers without a commit (Heartbeat) are the paths that
// answered under the lock before the fix; answers sent from a commit are covered too.
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "proto/tuner.pb.h"
#include "storage/database.h"
#include "storage/group_committer.h"
#include "tests/server/specs.h"
#include "tuner-server/scheduler.h"

namespace tuner::testing {
namespace {

namespace v1 = ::tuner::v1;
using server::Scheduler;

constexpr std::chrono::seconds kPatience(5);
constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

// One Scheduler over in-memory SQLite with a study (id 1), a registered worker (id 1) and its
// lease on trial 1 (attempt 1). At most one study and one worker fit.
struct Fixture {
  // The committer drains first, running the callbacks still due while the scheduler and the
  // outputs they write exist.
  ~Fixture() { committer.reset(); }

  double now = 1.0e9;
  std::unique_ptr<storage::GroupCommitter> committer;
  std::unique_ptr<storage::Database> reader;
  std::unique_ptr<Scheduler> scheduler;
  v1::Lease lease;
  // Outputs of the calls under test; they outlive every callback.
  v1::CreateStudyResponse created;
  v1::RegisterWorkerResponse registered;
  v1::AcquireTrialResponse leased;
  v1::HeartbeatResponse beat;
  v1::ReportIntermediateResponse reported;
  v1::CompleteTrialResponse completed;
  v1::FailTrialResponse failed;
  v1::Study study;
  v1::EnqueueTrialResponse enqueued;
  v1::Ensemble ensemble;
};

// The answer a Done callback got, after it re-entered the scheduler.
struct Answer {
  std::promise<absl::Status> status;
};

Scheduler::Done Reentrant(Scheduler* scheduler, std::shared_ptr<Answer> answer) {
  return [scheduler, answer](const absl::Status& status) {
    scheduler->ParkedAcquires();
    scheduler->Gauges();
    answer->status.set_value(status);
  };
}

// Runs fn on its own thread; false when it did not return within kPatience. A call that
// deadlocked keeps its thread (detached) and the fixture (leaked, `keep`), which it still uses.
bool ReturnsInTime(std::function<void()> fn, std::unique_ptr<Fixture>* keep) {
  auto returned = std::make_shared<std::promise<void>>();
  std::future<void> done = returned->get_future();
  std::thread([fn = std::move(fn), returned] {
    fn();
    returned->set_value();
  }).detach();
  if (done.wait_for(kPatience) == std::future_status::ready) return true;
  keep->release();  // NOLINT: the stuck thread still holds the scheduler's mutex
  return false;
}

std::unique_ptr<Fixture> MakeFixture() {
  auto f = std::make_unique<Fixture>();
  auto writer = storage::Database::Open(":memory:");
  auto reader = storage::Database::Open(":memory:");
  EXPECT_TRUE(writer.ok() && reader.ok());
  f->committer = std::make_unique<storage::GroupCommitter>(std::move(*writer));
  f->reader = std::move(*reader);
  server::SchedulerOptions options;
  options.lease_seconds = 30;
  options.max_wait_seconds = 5;
  options.max_studies = 1;
  options.max_workers = 1;
  Fixture* raw = f.get();
  options.clock = [raw] { return raw->now; };
  options.lease_token = [] { return std::string(kToken); };
  f->scheduler = std::make_unique<Scheduler>(options, f->committer.get(), f->reader.get());
  EXPECT_TRUE(f->scheduler->Load(storage::Snapshot{}, {}).ok());

  absl::Status last;
  auto record = [&last](const absl::Status& s) { last = s; };
  v1::CreateStudyRequest create;
  create.set_spec_yaml(RandomSpec(4));
  f->scheduler->CreateStudy(create, &f->created, record);
  EXPECT_TRUE(f->committer->Flush().ok());
  EXPECT_TRUE(last.ok()) << last;
  v1::RegisterWorkerRequest reg;
  reg.set_name("worker-a");
  reg.set_host("localhost");
  f->scheduler->RegisterWorker(reg, &f->registered, record);
  EXPECT_TRUE(f->committer->Flush().ok());
  EXPECT_TRUE(last.ok()) << last;
  v1::AcquireTrialRequest acquire;
  acquire.set_worker_id(f->registered.worker_id());
  f->scheduler->AcquireTrial(acquire, &f->leased, record);
  EXPECT_TRUE(f->committer->Flush().ok());
  EXPECT_TRUE(last.ok()) << last;
  EXPECT_TRUE(f->leased.has_trial());
  f->lease = f->leased.lease();
  return f;
}

struct Case {
  const char* name;
  absl::StatusCode code;  // what the call answers
  std::function<void(Fixture&, Scheduler::Done)> call;
};

std::vector<Case> Cases() {
  return {
      {"Heartbeat of the live lease", absl::StatusCode::kOk,
       [](Fixture& f, Scheduler::Done done) {
         v1::HeartbeatRequest request;
         *request.mutable_lease() = f.lease;
         f.scheduler->Heartbeat(request, &f.beat, std::move(done));
       }},
      {"Heartbeat with a wrong token", absl::StatusCode::kFailedPrecondition,
       [](Fixture& f, Scheduler::Done done) {
         v1::HeartbeatRequest request;
         *request.mutable_lease() = f.lease;
         request.mutable_lease()->set_token("forged");
         f.scheduler->Heartbeat(request, &f.beat, std::move(done));
       }},
      {"ReportIntermediate past the budget", absl::StatusCode::kInvalidArgument,
       [](Fixture& f, Scheduler::Done done) {
         v1::ReportIntermediateRequest request;
         *request.mutable_lease() = f.lease;
         request.mutable_intermediate()->set_epoch(1000);
         request.mutable_intermediate()->set_value(0.5);
         f.scheduler->ReportIntermediate(request, &f.reported, std::move(done));
       }},
      {"ReportIntermediate of the live lease", absl::StatusCode::kOk,
       [](Fixture& f, Scheduler::Done done) {
         v1::ReportIntermediateRequest request;
         *request.mutable_lease() = f.lease;
         request.mutable_intermediate()->set_epoch(1);
         request.mutable_intermediate()->set_value(0.5);
         f.scheduler->ReportIntermediate(request, &f.reported, std::move(done));
       }},
      {"CompleteTrial with epochs_done past the budget", absl::StatusCode::kInvalidArgument,
       [](Fixture& f, Scheduler::Done done) {
         v1::CompleteTrialRequest request;
         *request.mutable_lease() = f.lease;
         request.set_value(0.5);
         request.set_epochs_done(1000);
         f.scheduler->CompleteTrial(request, &f.completed, std::move(done));
       }},
      {"CompleteTrial of the live lease", absl::StatusCode::kOk,
       [](Fixture& f, Scheduler::Done done) {
         v1::CompleteTrialRequest request;
         *request.mutable_lease() = f.lease;
         request.set_value(0.5);
         request.set_epochs_done(3);
         f.scheduler->CompleteTrial(request, &f.completed, std::move(done));
       }},
      {"FailTrial of an unknown trial", absl::StatusCode::kNotFound,
       [](Fixture& f, Scheduler::Done done) {
         v1::FailTrialRequest request;
         *request.mutable_lease() = f.lease;
         request.mutable_lease()->set_trial_id(999);
         request.set_reason("lost");
         f.scheduler->FailTrial(request, &f.failed, std::move(done));
       }},
      {"StopStudy of an unknown study", absl::StatusCode::kNotFound,
       [](Fixture& f, Scheduler::Done done) { f.scheduler->StopStudy(999, &f.study, std::move(done)); }},
      {"EnqueueTrial into an unknown study", absl::StatusCode::kNotFound,
       [](Fixture& f, Scheduler::Done done) {
         v1::EnqueueTrialRequest request;
         request.set_study_id(999);
         f.scheduler->EnqueueTrial(request, &f.enqueued, std::move(done));
       }},
      {"CreateStudy past max_studies", absl::StatusCode::kResourceExhausted,
       [](Fixture& f, Scheduler::Done done) {
         v1::CreateStudyRequest request;
         request.set_spec_yaml(RandomSpec(2));
         f.scheduler->CreateStudy(request, &f.created, std::move(done));
       }},
      {"RegisterWorker past max_workers", absl::StatusCode::kResourceExhausted,
       [](Fixture& f, Scheduler::Done done) {
         v1::RegisterWorkerRequest request;
         request.set_name("worker-b");
         f.scheduler->RegisterWorker(request, &f.registered, std::move(done));
       }},
      {"CreateEnsemble of an unknown study", absl::StatusCode::kNotFound,
       [](Fixture& f, Scheduler::Done done) {
         v1::CreateEnsembleRequest request;
         request.set_study_id(999);
         request.set_k(1);
         f.scheduler->CreateEnsemble(request, &f.ensemble, std::move(done));
       }},
      {"CompleteEnsemble of an unknown ensemble", absl::StatusCode::kNotFound,
       [](Fixture& f, Scheduler::Done done) {
         v1::CompleteEnsembleRequest request;
         request.mutable_lease()->set_ensemble_id(5);
         request.mutable_lease()->set_attempt(1);
         request.set_test_accuracy(0.5);
         request.set_test_images(10);
         f.scheduler->CompleteEnsemble(request, &f.ensemble, std::move(done));
       }},
      {"FailEnsemble of an unknown ensemble", absl::StatusCode::kNotFound,
       [](Fixture& f, Scheduler::Done done) {
         v1::FailEnsembleRequest request;
         request.mutable_lease()->set_ensemble_id(5);
         request.mutable_lease()->set_attempt(1);
         request.set_reason("lost");
         f.scheduler->FailEnsemble(request, &f.ensemble, std::move(done));
       }},
  };
}

TEST(SchedulerReplies, NoDoneCallbackRunsUnderTheSchedulerLock) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<Fixture> f = MakeFixture();
    auto answer = std::make_shared<Answer>();
    std::future<absl::Status> status = answer->status.get_future();
    Scheduler::Done done = Reentrant(f->scheduler.get(), answer);
    Fixture* raw = f.get();
    const bool returned = ReturnsInTime(
        [raw, &c, done = std::move(done)]() mutable { c.call(*raw, std::move(done)); }, &f);
    if (!returned) {
      ADD_FAILURE() << c.name << ": the call did not return: its Done ran under the lock";
      continue;
    }
    ASSERT_TRUE(f->committer->Flush().ok());
    ASSERT_EQ(status.wait_for(kPatience), std::future_status::ready) << "Done never ran";
    EXPECT_EQ(status.get().code(), c.code);
  }
}

// A parked AcquireTrial is answered from Tick (its wait ended) and from Shutdown; both answer
// after the lock is released, and the answer may re-enter.
TEST(SchedulerReplies, ParkedAcquiresAreAnsweredOutsideTheLock) {
  std::unique_ptr<Fixture> f = MakeFixture();
  // A stopped study has nothing to lease, so the call parks.
  absl::Status stopped;
  f->scheduler->StopStudy(1, &f->study, [&stopped](const absl::Status& s) { stopped = s; });
  ASSERT_TRUE(f->committer->Flush().ok());
  ASSERT_TRUE(stopped.ok()) << stopped;
  for (const bool by_tick : {true, false}) {
    SCOPED_TRACE(by_tick ? "Tick" : "Shutdown");
    auto answer = std::make_shared<Answer>();
    std::future<absl::Status> status = answer->status.get_future();
    v1::AcquireTrialRequest request;
    request.set_worker_id(f->registered.worker_id());
    request.set_wait_seconds(1);
    f->leased.Clear();
    f->scheduler->AcquireTrial(request, &f->leased, Reentrant(f->scheduler.get(), answer));
    ASSERT_EQ(f->scheduler->ParkedAcquires(), 1);
    Fixture* raw = f.get();
    bool returned;
    if (by_tick) {
      f->now += 2;
      returned = ReturnsInTime([raw] { raw->scheduler->Tick(); }, &f);
    } else {
      returned = ReturnsInTime([raw] { raw->scheduler->Shutdown(); }, &f);
    }
    ASSERT_TRUE(returned) << "the parked call's Done ran under the lock";
    ASSERT_EQ(status.wait_for(kPatience), std::future_status::ready);
    EXPECT_TRUE(status.get().ok());
    EXPECT_FALSE(f->leased.has_trial());
  }
}

}  // namespace
}  // namespace tuner::testing
