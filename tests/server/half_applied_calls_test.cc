// Issue 13 row 5 for the calls after CreateStudy and AcquireTrial: CompleteTrial, FailTrial,
// ReportIntermediate, StopStudy, EnqueueTrial, RegisterWorker and the ensemble calls change
// nothing when their commit fails: not in memory, not in the db once the lock frees (the
// committer used to keep their rows and store them then), not after a restart; the same call
// succeeds afterwards. While a change commits, other calls on the same trial see it as it
// was and cannot end it again (UNAVAILABLE), lease it or expire it. A lease withdrawn because
// its commit failed leaves no RUNNING row to be re-applied.
#include <string>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/db_server.h"
#include "tests/server/specs.h"
#include "tests/testing/temp_dir.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

// Runs check() while the lock is held, again once it was released and the committer ran a
// transaction (where held-back writes used to land), and again after a restart.
template <typename Check>
void CheckNowLaterAndAfterRestart(Server& server, WriteLock& lock, Check check) {
  {
    SCOPED_TRACE("while the db is locked");
    check();
  }
  lock.Release();
  ASSERT_TRUE(server.committer().Flush().ok());
  {
    SCOPED_TRACE("once the lock was released");
    check();
  }
  server.Restart();
  SCOPED_TRACE("after a restart");
  check();
}

// A study of one trial (max_attempts 1), leased to a worker.
struct Leased {
  int64_t study_id = 0;
  int64_t worker_id = 0;
  v1::Lease lease;
};
Leased LeaseOneTrial(Server& server, int trials = 1) {
  Leased leased;
  auto created = server.CreateStudy(RandomSpec(trials, 3, 0, /*max_attempts=*/1));
  EXPECT_TRUE(created.ok()) << created.status();
  leased.study_id = created->study_id();
  leased.worker_id = server.RegisterWorker("w1");
  v1::AcquireTrialResponse response;
  EXPECT_TRUE(server.Acquire(leased.worker_id, &response).ok());
  EXPECT_TRUE(response.has_trial());
  leased.lease = response.lease();
  return leased;
}

TEST(HalfApplied, RefusedCompleteTrialLeavesTheTrialRunningUnderItsLease) {
  TempDir dir;
  Server server(dir.File("t.db"));
  const Leased leased = LeaseOneTrial(server);
  WriteLock lock(dir.File("t.db"));
  absl::Status refused = server.Complete(leased.lease, 0.5);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  CheckNowLaterAndAfterRestart(server, lock, [&] {
    std::vector<v1::Trial> trials = server.Trials(leased.study_id);
    ASSERT_EQ(trials.size(), 1u);
    EXPECT_EQ(trials[0].state(), v1::RUNNING);
    EXPECT_FALSE(trials[0].has_value());
    EXPECT_EQ(server.GetStudy(leased.study_id).state(), v1::STUDY_RUNNING);
  });
  // The worker still holds its lease and completes the trial.
  ASSERT_TRUE(server.Complete(leased.lease, 0.5).ok());
  std::vector<v1::Trial> trials = server.Trials(leased.study_id);
  EXPECT_EQ(trials[0].state(), v1::COMPLETED);
  EXPECT_EQ(trials[0].value(), 0.5);
}

TEST(HalfApplied, RefusedFailTrialCountsNoAttemptAndStoresNoReason) {
  TempDir dir;
  Server server(dir.File("t.db"));
  const Leased leased = LeaseOneTrial(server);
  WriteLock lock(dir.File("t.db"));
  absl::Status refused = server.Fail(leased.lease, /*retryable=*/false);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  CheckNowLaterAndAfterRestart(server, lock, [&] {
    std::vector<v1::Trial> trials = server.Trials(leased.study_id);
    ASSERT_EQ(trials.size(), 1u);
    EXPECT_EQ(trials[0].state(), v1::RUNNING);
    EXPECT_EQ(trials[0].attempt(), 1);
    EXPECT_EQ(trials[0].fail_reason(), "");
  });
  ASSERT_TRUE(server.Complete(leased.lease, 0.25).ok());
  EXPECT_EQ(server.Trials(leased.study_id)[0].state(), v1::COMPLETED);
}

TEST(HalfApplied, RefusedReportIntermediateRecordsNoValue) {
  TempDir dir;
  Server server(dir.File("t.db"));
  const Leased leased = LeaseOneTrial(server);
  WriteLock lock(dir.File("t.db"));
  absl::Status refused = server.Report(leased.lease, 1, 0.125);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  CheckNowLaterAndAfterRestart(server, lock, [&] {
    std::vector<v1::Trial> trials = server.Trials(leased.study_id, true);
    ASSERT_EQ(trials.size(), 1u);
    EXPECT_EQ(trials[0].epochs_done(), 0);
    EXPECT_EQ(trials[0].intermediate_values_size(), 0);
  });
  ASSERT_TRUE(server.Report(leased.lease, 1, 0.125).ok());
  std::vector<v1::Trial> trials = server.Trials(leased.study_id, true);
  EXPECT_EQ(trials[0].epochs_done(), 1);
  ASSERT_EQ(trials[0].intermediate_values_size(), 1);
  EXPECT_EQ(trials[0].intermediate_values(0).value(), 0.125);
}

TEST(HalfApplied, RefusedStopStudyLeavesTheStudyAndItsTrialsRunning) {
  TempDir dir;
  Server server(dir.File("t.db"));
  const Leased leased = LeaseOneTrial(server, /*trials=*/3);
  WriteLock lock(dir.File("t.db"));
  absl::Status refused = server.StopStudy(leased.study_id);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  CheckNowLaterAndAfterRestart(server, lock, [&] {
    EXPECT_EQ(server.GetStudy(leased.study_id).state(), v1::STUDY_RUNNING);
    std::vector<v1::Trial> trials = server.Trials(leased.study_id);
    ASSERT_FALSE(trials.empty());
    EXPECT_EQ(trials[0].state(), v1::RUNNING);
    v1::HeartbeatResponse beat;
    ASSERT_TRUE(server.Heartbeat(leased.lease, &beat).ok());
    EXPECT_FALSE(beat.stop());
  });
  ASSERT_TRUE(server.StopStudy(leased.study_id).ok());
  EXPECT_EQ(server.GetStudy(leased.study_id).state(), v1::STUDY_STOPPED);
  EXPECT_EQ(server.Trials(leased.study_id)[0].state(), v1::STOPPED);
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(server.Heartbeat(leased.lease, &beat).ok());
  EXPECT_TRUE(beat.stop());
}

TEST(HalfApplied, RefusedEnqueueTrialAddsNoTrialAndTheNextOneTakesItsNumber) {
  TempDir dir;
  Server server(dir.File("t.db"));
  const Leased leased = LeaseOneTrial(server, /*trials=*/3);
  const size_t before = server.Trials(leased.study_id).size();
  v1::EnqueueTrialRequest request;
  request.set_study_id(leased.study_id);
  (*request.mutable_params())["units"].set_string_value("512");
  (*request.mutable_params())["dropout"].set_string_value("0.4");
  (*request.mutable_params())["optimizer"].set_string_value("rmsprop");
  (*request.mutable_params())["learning_rate"].set_float_value(0.002);
  WriteLock lock(dir.File("t.db"));
  v1::EnqueueTrialResponse response;
  absl::Status refused = server.Enqueue(request, &response);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  CheckNowLaterAndAfterRestart(server, lock, [&] {
    EXPECT_EQ(server.Trials(leased.study_id).size(), before);
  });
  ASSERT_TRUE(server.Enqueue(request, &response).ok());
  EXPECT_EQ(response.trial().number(), static_cast<int64_t>(before));
  EXPECT_EQ(response.trial().state(), v1::PENDING);
  server.Restart();
  std::vector<v1::Trial> trials = server.Trials(leased.study_id);
  ASSERT_EQ(trials.size(), before + 1);
  EXPECT_EQ(trials.back().trial_id(), response.trial().trial_id());
}

TEST(HalfApplied, RefusedRegisterWorkerLeavesNoWorker) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto created = server.CreateStudy(RandomSpec(2));
  ASSERT_TRUE(created.ok()) << created.status();
  WriteLock lock(dir.File("t.db"));
  v1::RegisterWorkerResponse registered;
  absl::Status refused = server.Register("w1", &registered);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  const int64_t worker_id = registered.worker_id();
  CheckNowLaterAndAfterRestart(server, lock, [&] {
    v1::AcquireTrialResponse response;
    absl::Status acquired = server.Acquire(worker_id, &response);
    EXPECT_TRUE(absl::IsNotFound(acquired)) << acquired;
    EXPECT_FALSE(response.has_trial());
  });
  ASSERT_TRUE(server.Register("w1", &registered).ok());
  v1::AcquireTrialResponse response;
  ASSERT_TRUE(server.Acquire(registered.worker_id(), &response).ok());
  EXPECT_TRUE(response.has_trial());
}

std::string TorchSpec(int trials) {
  return "name: ensemble-test\n"
         "algorithm: {kind: random, max_trials: " + std::to_string(trials) + "}\n"
         "seed: 5\n"
         "keep_checkpoints: true\n"
         "search_space:\n"
         "  units: {type: int, min: 1, max: 1000}\n"
         "trainer: {kind: torch, epochs: 1, dataset: {name: cifar10, path: /data}}\n";
}

absl::Status CreateEnsemble(Server& server, int64_t study_id, v1::Ensemble* out) {
  v1::CreateEnsembleRequest request;
  request.set_study_id(study_id);
  request.set_k(2);
  return server.Call([&](Scheduler::Done done) {
    server.scheduler().CreateEnsemble(request, out, std::move(done));
  });
}

std::vector<v1::Ensemble> Ensembles(Server& server, int64_t study_id) {
  v1::ListEnsemblesRequest request;
  request.set_study_id(study_id);
  v1::ListEnsemblesResponse response;
  EXPECT_TRUE(server.scheduler().ListEnsembles(request, &response).ok());
  return {response.ensembles().begin(), response.ensembles().end()};
}

absl::Status EndEnsemble(Server& server, const v1::Lease& lease, bool complete) {
  v1::Ensemble out;
  if (complete) {
    v1::CompleteEnsembleRequest request;
    *request.mutable_lease() = lease;
    request.set_test_accuracy(0.75);
    request.add_member_test_accuracies(0.5);
    request.add_member_test_accuracies(0.25);
    request.set_test_images(100);
    return server.Call([&](Scheduler::Done done) {
      server.scheduler().CompleteEnsemble(request, &out, std::move(done));
    });
  }
  v1::FailEnsembleRequest request;
  *request.mutable_lease() = lease;
  request.set_reason("broken");
  request.set_retryable(false);
  return server.Call([&](Scheduler::Done done) {
    server.scheduler().FailEnsemble(request, &out, std::move(done));
  });
}

TEST(HalfApplied, RefusedEnsembleCallsLeaveNoJobAndChangeNone) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto created = server.CreateStudy(TorchSpec(2));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t study = created->study_id();
  const int64_t worker = server.RegisterWorker("w1");
  for (int i = 0; i < 2; ++i) {
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(server.Acquire(worker, &trial).ok());
    ASSERT_TRUE(trial.has_trial());
    storage::CheckpointRow row;
    row.id = "checkpoint-" + std::to_string(i);
    row.trial_id = trial.lease().trial_id();
    row.epoch = 1;
    row.size_bytes = 7;
    row.path = row.id;
    ASSERT_TRUE(server.Call([&](Scheduler::Done done) {
                  server.scheduler().AddCheckpoint(trial.lease(), row, std::move(done));
                }).ok());
    ASSERT_TRUE(server.Complete(trial.lease(), 0.1 * (i + 1), row.id).ok());
  }
  {
    WriteLock lock(dir.File("t.db"));
    v1::Ensemble ensemble;
    absl::Status refused = CreateEnsemble(server, study, &ensemble);
    EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
    CheckNowLaterAndAfterRestart(server, lock, [&] {
      EXPECT_TRUE(Ensembles(server, study).empty());
      v1::AcquireTrialResponse job;
      ASSERT_TRUE(server.Acquire(worker, &job, /*accepts_ensembles=*/true).ok());
      EXPECT_FALSE(job.has_ensemble_job());
    });
  }
  v1::Ensemble ensemble;
  ASSERT_TRUE(CreateEnsemble(server, study, &ensemble).ok());
  v1::AcquireTrialResponse job;
  ASSERT_TRUE(server.Acquire(worker, &job, /*accepts_ensembles=*/true).ok());
  ASSERT_TRUE(job.has_ensemble_job());
  for (bool complete : {true, false}) {
    WriteLock lock(dir.File("t.db"));
    absl::Status refused = EndEnsemble(server, job.ensemble_job().lease(), complete);
    EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
    CheckNowLaterAndAfterRestart(server, lock, [&] {
      std::vector<v1::Ensemble> ensembles = Ensembles(server, study);
      ASSERT_EQ(ensembles.size(), 1u);
      EXPECT_EQ(ensembles[0].state(), v1::ENSEMBLE_RUNNING);
      EXPECT_EQ(ensembles[0].attempt(), 1);
      EXPECT_FALSE(ensembles[0].has_test_accuracy());
      EXPECT_EQ(ensembles[0].fail_reason(), "");
    });
  }
  ASSERT_TRUE(EndEnsemble(server, job.ensemble_job().lease(), /*complete=*/true).ok());
  EXPECT_EQ(Ensembles(server, study)[0].state(), v1::ENSEMBLE_COMPLETED);
}

// The writer waits up to 20 s for the lock here, so the first CompleteTrial's commit is in
// flight until the test releases the lock (a few milliseconds later).
TEST(HalfApplied, ATrialWhoseCompletionCommitsIsNotLeasedExpiredOrEndedAgain) {
  TempDir dir;
  Server server(dir.File("t.db"), /*busy_timeout_ms=*/20000);
  const Leased leased = LeaseOneTrial(server, /*trials=*/1);
  const int64_t other = server.RegisterWorker("w2");
  WriteLock lock(dir.File("t.db"));
  v1::CompleteTrialResponse first;
  auto answered = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> completed = answered->get_future();
  server.scheduler().CompleteTrial(Server::CompleteRequest(leased.lease, 0.5), &first,
                                   [answered](const absl::Status& s) { answered->set_value(s); });
  // The completion is committing: the trial is RUNNING as before, for every other call.
  absl::Status again = server.Complete(leased.lease, 0.75);
  EXPECT_TRUE(absl::IsUnavailable(again)) << again;
  EXPECT_THAT(std::string(again.message()), HasSubstr("still being committed"));
  absl::Status failed = server.Fail(leased.lease, /*retryable=*/false);
  EXPECT_TRUE(absl::IsUnavailable(failed)) << failed;
  absl::Status reported = server.Report(leased.lease, 1, 0.1);
  EXPECT_TRUE(absl::IsUnavailable(reported)) << reported;
  v1::AcquireTrialResponse none;
  ASSERT_TRUE(server.Acquire(other, &none).ok());
  EXPECT_FALSE(none.has_trial());
  server.Wait(3600);  // far past the lease's deadline
  server.scheduler().Tick();
  std::vector<v1::Trial> trials = server.Trials(leased.study_id);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::RUNNING);
  EXPECT_EQ(trials[0].attempt(), 1);
  EXPECT_FALSE(trials[0].has_value());
  lock.Release();
  ASSERT_TRUE(completed.get().ok());
  EXPECT_EQ(first.state(), v1::COMPLETED);
  trials = server.Trials(leased.study_id);
  EXPECT_EQ(trials[0].state(), v1::COMPLETED);
  EXPECT_EQ(trials[0].value(), 0.5);
  absl::Status late = server.Complete(leased.lease, 0.75);
  EXPECT_TRUE(absl::IsFailedPrecondition(late)) << late;
  server.Restart();
  trials = server.Trials(leased.study_id);
  EXPECT_EQ(trials[0].state(), v1::COMPLETED);
  EXPECT_EQ(trials[0].value(), 0.5);
  EXPECT_EQ(server.GetStudy(leased.study_id).state(), v1::STUDY_COMPLETED);
}

// A study stopped while one of its trials' completion commits: the completion lands, the
// study is STOPPED, memory and db agree.
TEST(HalfApplied, AStopWhileACompletionCommitsKeepsTheCompletionAndStopsTheRest) {
  TempDir dir;
  Server server(dir.File("t.db"), /*busy_timeout_ms=*/20000);
  auto created = server.CreateStudy(RandomSpec(4, 3, 0, 1));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t study = created->study_id();
  const int64_t worker = server.RegisterWorker("w1");
  v1::AcquireTrialResponse a, b;
  ASSERT_TRUE(server.Acquire(worker, &a).ok());
  ASSERT_TRUE(server.Acquire(worker, &b).ok());
  WriteLock lock(dir.File("t.db"));
  v1::CompleteTrialResponse completion;
  auto completed = std::make_shared<std::promise<absl::Status>>();
  server.scheduler().CompleteTrial(Server::CompleteRequest(a.lease(), 0.5), &completion,
                                   [completed](const absl::Status& s) { completed->set_value(s); });
  v1::Study stopped;
  auto stop = std::make_shared<std::promise<absl::Status>>();
  server.scheduler().StopStudy(study, &stopped,
                               [stop](const absl::Status& s) { stop->set_value(s); });
  // Nothing of a study whose stop commits is leased.
  v1::AcquireTrialResponse none;
  ASSERT_TRUE(server.Acquire(worker, &none).ok());
  EXPECT_FALSE(none.has_trial());
  lock.Release();
  ASSERT_TRUE(completed->get_future().get().ok());
  ASSERT_TRUE(stop->get_future().get().ok());
  EXPECT_EQ(stopped.state(), v1::STUDY_STOPPED);
  const auto check = [&] {
    EXPECT_EQ(server.GetStudy(study).state(), v1::STUDY_STOPPED);
    for (const v1::Trial& trial : server.Trials(study)) {
      if (trial.trial_id() == a.lease().trial_id()) {
        EXPECT_EQ(trial.state(), v1::COMPLETED);
        EXPECT_EQ(trial.value(), 0.5);
      } else {
        EXPECT_EQ(trial.state(), v1::STOPPED) << "trial " << trial.trial_id();
      }
    }
  };
  check();
  ASSERT_TRUE(server.committer().Flush().ok());
  server.Restart();
  check();
}

TEST(HalfApplied, AWithdrawnLeaseLeavesNoRunningRowToBeReapplied) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto created = server.CreateStudy(RandomSpec(1, 3, 0, /*max_attempts=*/1));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t worker = server.RegisterWorker("w1");
  WriteLock lock(dir.File("t.db"));
  v1::AcquireTrialResponse refused;
  absl::Status status = server.Acquire(worker, &refused);
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  // Another transaction fails on the lock: the writes kept are as they will stay.
  EXPECT_TRUE(absl::IsUnavailable(server.committer().Flush()));
  // What waits for the lock: the planned trial (PENDING) and the withdrawal's row, and no
  // row of the refused lease: a server killed once part of it landed cannot restart with the
  // trial RUNNING under a lease nobody holds.
  std::vector<storage::WriteOp> kept = server.committer().TEST_KeptWrites();
  EXPECT_FALSE(kept.empty());
  for (const storage::WriteOp& op : kept) {
    if (const auto* row = std::get_if<storage::TrialRow>(&op)) {
      EXPECT_NE(row->state, "RUNNING") << "trial " << row->id << " attempt " << row->attempt;
    }
  }
  lock.Release();
  ASSERT_TRUE(server.committer().Flush().ok());
  server.Restart();
  std::vector<v1::Trial> trials = server.Trials(created->study_id());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::PENDING);
  EXPECT_EQ(trials[0].attempt(), 0);
}

}  // namespace
}  // namespace tuner::testing
