// What a user sees of a study's progress and its workers (issue 17): epochs trained and
// planned (the ETA's input), the sampler and pruner, a running trial's last heartbeat,
// ListWorkers, and a trial FAILED for good keeping the worker (by name) it failed on.
#include <chrono>
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

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<v1::Worker> ListWorkers(TestServer& server) {
  grpc::ClientContext context;
  v1::ListWorkersRequest request;
  v1::ListWorkersResponse response;
  EXPECT_TRUE(server.studies().ListWorkers(&context, request, &response).ok());
  return {response.workers().begin(), response.workers().end()};
}

TEST(Progress, StudiesCountEpochsTrainedAndPlanned) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(/*max_trials=*/2, /*epochs=*/3));
  v1::Study shown = GetStudy(server, study);
  EXPECT_EQ(shown.epochs_done(), 0);
  EXPECT_EQ(shown.planned_epochs(), 6);
  EXPECT_EQ(shown.sampler(), "random");
  EXPECT_EQ(shown.pruner(), "none");
  RawWorker worker(&server.workers(), "w1");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(worker.Acquire(&leased).ok());
  ASSERT_TRUE(leased.has_trial());
  ASSERT_TRUE(worker.Report(leased.lease(), 1, 0.5).ok());
  ASSERT_TRUE(worker.Report(leased.lease(), 2, 0.6).ok());
  shown = GetStudy(server, study);
  EXPECT_EQ(shown.epochs_done(), 2);  // a running trial's epochs count as they come
  EXPECT_EQ(shown.planned_epochs(), 6);
  // Completed early (1 epoch short): the plan shrinks to what it trained.
  ASSERT_TRUE(worker.Complete(leased.lease(), 0.6, 2).ok());
  EXPECT_EQ(GetStudy(server, study).planned_epochs(), 5);
}

TEST(Progress, ARunningTrialShowsWhenItsWorkerWasLastHeardFromAndListWorkersShowsIt) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(1));
  RawWorker worker(&server.workers(), "node-7:gpu0");
  const double before = Now();
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(worker.Acquire(&leased).ok());
  ASSERT_TRUE(leased.has_trial());
  std::vector<v1::Trial> trials = ListTrials(server, study);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_GE(trials[0].heartbeat_at(), before - 1);
  EXPECT_LE(trials[0].heartbeat_at(), Now() + 1);

  const std::vector<v1::Worker> workers = ListWorkers(server);
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].name(), "node-7:gpu0");
  EXPECT_EQ(workers[0].study_id(), study);
  EXPECT_EQ(workers[0].trial_id(), leased.lease().trial_id());
  EXPECT_EQ(workers[0].trial_number(), 0);
  EXPECT_GE(workers[0].last_seen_at(), before - 1);

  ASSERT_TRUE(worker.Complete(leased.lease(), 0.5, 3).ok());
  EXPECT_EQ(ListTrials(server, study)[0].heartbeat_at(), 0);  // not running any more
  EXPECT_EQ(ListWorkers(server)[0].trial_id(), 0);
}

TEST(Progress, ATrialFailedForGoodKeepsItsWorker) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(1, 3, 0, /*max_attempts=*/2));
  RawWorker worker(&server.workers(), "w1");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(worker.Acquire(&leased).ok());
  ASSERT_TRUE(worker.Fail(leased.lease(), "boom", /*retryable=*/true).ok());
  // Re-queued: PENDING, held by nobody.
  std::vector<v1::Trial> trials = ListTrials(server, study);
  EXPECT_EQ(trials[0].state(), v1::PENDING);
  EXPECT_EQ(trials[0].worker_name(), "");
  ASSERT_TRUE(worker.Acquire(&leased).ok());
  ASSERT_TRUE(worker.Fail(leased.lease(), "boom again", /*retryable=*/true).ok());
  trials = ListTrials(server, study);
  EXPECT_EQ(trials[0].state(), v1::FAILED);
  EXPECT_EQ(trials[0].worker_name(), "w1");
  EXPECT_EQ(trials[0].fail_reason(), "boom again");
  server.Restart();
  EXPECT_EQ(ListTrials(server, study)[0].worker_name(), "w1");
}

TEST(Progress, AnExpiredLeaseNamesItsWorkerByName) {
  server::ServerOptions options;
  options.lease_seconds = 0.3;
  options.tick_seconds = 0.05;
  TestServer server(options);
  const int64_t study = CreateStudy(server, RandomSpec(1, 3, 0, /*max_attempts=*/1));
  RawWorker worker(&server.workers(), "silent-worker");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(worker.Acquire(&leased).ok());
  std::vector<v1::Trial> trials;
  for (int i = 0; i < 100; ++i) {
    trials = ListTrials(server, study);
    if (trials[0].state() == v1::FAILED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(trials[0].state(), v1::FAILED);
  EXPECT_EQ(trials[0].fail_reason(), "lease expired: worker silent-worker stopped heartbeating");
  EXPECT_EQ(trials[0].worker_name(), "silent-worker");
}

}  // namespace
}  // namespace tuner::testing
