// Leases on a real server: a lease is its holder's alone (issue 13 row 1: a second worker, or a
// caller that never registered, replaying (trial_id, attempt) is refused on every call that
// names a lease, with no effect); its token survives a restart; and a parked AcquireTrial whose
// client went away never gets a trial, nor burns its attempts (issue 13 row 6).
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr char kOtherWorker[] = "lease held by another worker";
constexpr char kBadToken[] = "lease token does not match";

// Every call that names a lease, with `lease`; each must be refused with FAILED_PRECONDITION
// and a message that contains `why`.
void ExpectEveryLeaseCallRefused(RawWorker& caller, const v1::Lease& lease, const char* why) {
  SCOPED_TRACE(::testing::Message() << "lease " << lease.ShortDebugString());
  v1::HeartbeatResponse beat;
  grpc::Status s = caller.Heartbeat(lease, &beat);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "Heartbeat";
  EXPECT_THAT(s.error_message(), HasSubstr(why)) << "Heartbeat";
  s = caller.Report(lease, 1, 0.99);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "ReportIntermediate";
  EXPECT_THAT(s.error_message(), HasSubstr(why)) << "ReportIntermediate";
  v1::UploadCheckpointResponse uploaded;
  s = caller.Upload(lease, 1, "forged weights", &uploaded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "UploadCheckpoint";
  EXPECT_THAT(s.error_message(), HasSubstr(why)) << "UploadCheckpoint";
  s = caller.Complete(lease, 1e300, 3);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "CompleteTrial";
  EXPECT_THAT(s.error_message(), HasSubstr(why)) << "CompleteTrial";
  s = caller.Fail(lease, "forged failure", /*retryable=*/false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "FailTrial";
  EXPECT_THAT(s.error_message(), HasSubstr(why)) << "FailTrial";
}

// The one trial is as its holder left it: RUNNING at attempt 1, no value, no report, no
// checkpoint, nothing in GetBestTrials.
void ExpectTrialUntouched(TestServer& server, int64_t study) {
  std::vector<v1::Trial> trials = ListTrials(server, study, /*with_values=*/true);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::RUNNING);
  EXPECT_EQ(trials[0].attempt(), 1);
  EXPECT_FALSE(trials[0].has_value());
  EXPECT_EQ(trials[0].epochs_done(), 0);
  EXPECT_EQ(trials[0].intermediate_values_size(), 0);
  EXPECT_EQ(trials[0].checkpoint_id(), "");
  EXPECT_EQ(trials[0].fail_reason(), "");
  v1::GetBestTrialsRequest request;
  request.set_study_id(study);
  v1::GetBestTrialsResponse best;
  grpc::ClientContext context;
  ASSERT_TRUE(server.studies().GetBestTrials(&context, request, &best).ok());
  EXPECT_EQ(best.trials_size(), 0);
}

// The holder still has its lease after the forgeries: it reports and completes its trial.
void ExpectHolderFinishes(TestServer& server, int64_t study, RawWorker& holder,
                          const v1::Lease& lease) {
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(holder.Heartbeat(lease, &beat).ok());
  EXPECT_FALSE(beat.stop());
  ASSERT_TRUE(holder.Report(lease, 1, 0.5).ok());
  v1::CompleteTrialResponse completed;
  grpc::Status s = holder.Complete(lease, 0.5, 1, "", &completed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(completed.state(), v1::COMPLETED);
  std::vector<v1::Trial> trials = ListTrials(server, study);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_DOUBLE_EQ(trials[0].value(), 0.5);
  EXPECT_EQ(trials[0].worker_name(), "holder");
}

TEST(Leases, AcquireTrialHandsOutALeaseBoundToTheWorkerWithA128BitToken) {
  TestServer server;
  CreateStudy(server, RandomSpec(2));
  RawWorker worker(&server.workers(), "holder");
  v1::AcquireTrialResponse first, second;
  ASSERT_TRUE(worker.Acquire(&first).ok());
  ASSERT_TRUE(worker.Acquire(&second).ok());
  ASSERT_TRUE(first.has_trial() && second.has_trial());
  EXPECT_EQ(first.lease().worker_id(), worker.id());
  EXPECT_THAT(first.lease().token(), ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(first.lease().token(), second.lease().token());
}

TEST(Leases, AnotherWorkersReplayOfALeaseIsRefusedOnEveryCallAndHasNoEffect) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(1, /*epochs=*/3, 0, /*max_attempts=*/1));
  RawWorker holder(&server.workers(), "holder");
  RawWorker thief(&server.workers(), "thief");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(holder.Acquire(&leased).ok());
  ASSERT_TRUE(leased.has_trial());

  // What the attacker sent: the right trial id and attempt, nothing else.
  v1::Lease bare;
  bare.set_trial_id(leased.lease().trial_id());
  bare.set_attempt(leased.lease().attempt());
  ExpectEveryLeaseCallRefused(thief, bare, kOtherWorker);
  // Its own worker id, a guessed token.
  v1::Lease own = bare;
  own.set_worker_id(thief.id());
  own.set_token(std::string(32, '0'));
  ExpectEveryLeaseCallRefused(thief, own, kOtherWorker);
  // The holder's worker id but not its token: empty, wrong, or the right one cut short.
  v1::Lease as_holder = leased.lease();
  as_holder.clear_token();
  ExpectEveryLeaseCallRefused(thief, as_holder, kBadToken);
  as_holder.set_token(std::string(32, 'f'));
  ExpectEveryLeaseCallRefused(thief, as_holder, kBadToken);
  as_holder.set_token(leased.lease().token().substr(0, 31));
  ExpectEveryLeaseCallRefused(thief, as_holder, kBadToken);

  ExpectTrialUntouched(server, study);
  ExpectHolderFinishes(server, study, holder, leased.lease());
}

TEST(Leases, ACallerThatNeverRegisteredCannotUseALease) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(1, /*epochs=*/3, 0, /*max_attempts=*/1));
  RawWorker holder(&server.workers(), "holder");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(holder.Acquire(&leased).ok());
  ASSERT_TRUE(leased.has_trial());

  // Its own channel, no RegisterWorker: RawWorker's calls only echo the lease they are given.
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto stub = v1::WorkerService::NewStub(channel);
  RawWorker stranger(stub.get(), "");  // the name is refused: this one never registered
  ASSERT_FALSE(stranger.register_status().ok());
  v1::Lease bare;
  bare.set_trial_id(leased.lease().trial_id());
  bare.set_attempt(1);
  ExpectEveryLeaseCallRefused(stranger, bare, kOtherWorker);
  v1::Lease named = bare;
  named.set_worker_id(holder.id());
  named.set_token("0123456789abcdef0123456789abcdef");
  ExpectEveryLeaseCallRefused(stranger, named, kBadToken);

  ExpectTrialUntouched(server, study);
  ExpectHolderFinishes(server, study, holder, leased.lease());
}

TEST(Leases, TheTokenSurvivesARestartAndIsStillRequired) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(1, /*epochs=*/3, 0, /*max_attempts=*/1));
  RawWorker holder(&server.workers(), "holder");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(holder.Acquire(&leased).ok());
  ASSERT_TRUE(leased.has_trial());
  server.Restart();

  RawWorker back(&server.workers(), "holder");  // the same name: the same worker id
  ASSERT_EQ(back.id(), holder.id());
  RawWorker thief(&server.workers(), "thief");
  v1::Lease forged = leased.lease();
  forged.set_token(std::string(32, 'a'));
  ExpectEveryLeaseCallRefused(thief, forged, kBadToken);
  ExpectTrialUntouched(server, study);
  ExpectHolderFinishes(server, study, back, leased.lease());
}

// --- Row 6: a parked AcquireTrial of a client that went away.

// An AcquireTrial made through the async stub, so the test can cancel it while it is parked.
class ParkedAcquire {
 public:
  ParkedAcquire(TestServer& server, int64_t worker_id, double wait_seconds,
                std::chrono::milliseconds deadline) {
    request_.set_worker_id(worker_id);
    request_.set_wait_seconds(wait_seconds);
    context_.set_deadline(std::chrono::system_clock::now() + deadline);
    server.workers().async()->AcquireTrial(&context_, &request_, &response_,
                                           [this](grpc::Status status) {
                                             std::lock_guard<std::mutex> lock(mu_);
                                             status_ = std::move(status);
                                             done_ = true;
                                             cv_.notify_all();
                                           });
  }
  ~ParkedAcquire() { Wait(); }

  void Cancel() { context_.TryCancel(); }
  grpc::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return status_;
  }
  const v1::AcquireTrialResponse& response() const { return response_; }

 private:
  grpc::ClientContext context_;
  v1::AcquireTrialRequest request_;
  v1::AcquireTrialResponse response_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

// Polls until the scheduler holds `want` parked calls, for at most 5 s; the last count seen.
int64_t AwaitParked(TestServer& server, int64_t want) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int64_t parked = server.server().scheduler().ParkedAcquires();
  while (parked != want && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    parked = server.server().scheduler().ParkedAcquires();
  }
  return parked;
}

// After the dead client's call: the study's one trial (max_attempts 1) must go to the live
// worker, which completes it.
void ExpectLiveWorkerGetsTheTrial(TestServer& server, RawWorker& live) {
  const int64_t study = CreateStudy(server, RandomSpec(1, /*epochs=*/1, 0, /*max_attempts=*/1));
  v1::AcquireTrialResponse got;
  ASSERT_TRUE(live.Acquire(&got, /*wait_seconds=*/3).ok());
  ASSERT_TRUE(got.has_trial()) << "the trial went to the dead client's call";
  EXPECT_EQ(got.lease().attempt(), 1);
  ASSERT_TRUE(live.Complete(got.lease(), 0.25, 1).ok());
  std::vector<v1::Trial> trials = ListTrials(server, study);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::COMPLETED);
  EXPECT_EQ(trials[0].worker_name(), "live");
}

server::ServerOptions ShortLeases() {
  server::ServerOptions options;
  options.lease_seconds = 1;  // a trial leased to the dead call would be FAILED within the wait
  options.tick_seconds = 0.05;
  return options;
}

TEST(Leases, ACancelledParkedAcquireLeavesTheWaitersAndGetsNoTrial) {
  TestServer server(ShortLeases());
  RawWorker dead(&server.workers(), "dead");
  RawWorker live(&server.workers(), "live");
  {
    ParkedAcquire parked(server, dead.id(), /*wait_seconds=*/15, std::chrono::seconds(30));
    ASSERT_EQ(AwaitParked(server, 1), 1);
    parked.Cancel();
    EXPECT_EQ(parked.Wait().error_code(), grpc::StatusCode::CANCELLED);
    EXPECT_EQ(AwaitParked(server, 0), 0) << "the cancelled call is still parked";
  }
  ExpectLiveWorkerGetsTheTrial(server, live);
}

TEST(Leases, AParkedAcquirePastItsClientDeadlineGetsNoTrial) {
  TestServer server(ShortLeases());
  RawWorker dead(&server.workers(), "dead");
  RawWorker live(&server.workers(), "live");
  {
    ParkedAcquire parked(server, dead.id(), /*wait_seconds=*/15, std::chrono::milliseconds(300));
    EXPECT_EQ(parked.Wait().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_EQ(AwaitParked(server, 0), 0) << "the expired call is still parked";
  }
  ExpectLiveWorkerGetsTheTrial(server, live);
}

TEST(Leases, AnUndeliveredLeaseIsReturnedWithoutCountingAnAttempt) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(1, /*epochs=*/1, 0, /*max_attempts=*/1));
  RawWorker first(&server.workers(), "first");
  RawWorker live(&server.workers(), "live");
  v1::AcquireTrialResponse lost;
  ASSERT_TRUE(first.Acquire(&lost).ok());
  ASSERT_TRUE(lost.has_trial());

  // What WorkerService does when the answer to AcquireTrial could not be delivered. A forged
  // copy of the lease is not enough.
  auto ret = [&](const v1::Lease& lease) {
    auto returned = std::make_shared<std::promise<absl::Status>>();
    server.server().scheduler().ReturnLease(
        lease, [returned](const absl::Status& s) { returned->set_value(s); });
    return returned->get_future().get();
  };
  v1::Lease forged = lost.lease();
  forged.set_token(std::string(32, '1'));
  EXPECT_EQ(ret(forged).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ListTrials(server, study)[0].state(), v1::RUNNING);
  ASSERT_TRUE(ret(lost.lease()).ok());
  std::vector<v1::Trial> trials = ListTrials(server, study);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::PENDING);
  EXPECT_EQ(trials[0].fail_reason(), "");

  // The returned lease is dead; the next worker gets the trial and may finish it although
  // max_attempts is 1.
  v1::HeartbeatResponse beat;
  EXPECT_EQ(first.Heartbeat(lost.lease(), &beat).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  v1::AcquireTrialResponse got;
  ASSERT_TRUE(live.Acquire(&got).ok());
  ASSERT_TRUE(got.has_trial());
  EXPECT_EQ(got.lease().attempt(), 2);  // attempt numbers are never reused
  ASSERT_TRUE(live.Complete(got.lease(), 0.75, 1).ok());
  EXPECT_EQ(ListTrials(server, study)[0].state(), v1::COMPLETED);
}

}  // namespace
}  // namespace tuner::testing
