// ASHA, the median pruner and the TPE sampler through the server's gRPC API, driven by bare
// RPCs so the test decides which worker finishes when.
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

// Better with more units, a learning rate near 1e-3 and more epochs.
double Curve(const v1::AcquireTrialResponse& trial, int epoch) {
  const double units = static_cast<double>(trial.params().at("units").int_value());
  const double lr = trial.params().at("learning_rate").float_value();
  return 0.5 + units / 2048.0 - 0.02 * std::abs(std::log10(lr) + 3) + 0.001 * epoch;
}

// Trains a leased trial to its budget as a worker would: one report per epoch, a checkpoint
// when asked for one, then CompleteTrial.
void Train(RawWorker& worker, const v1::AcquireTrialResponse& trial) {
  for (int epoch = trial.start_epoch() + 1; epoch <= trial.budget_epochs(); ++epoch) {
    ASSERT_TRUE(worker.Report(trial.lease(), epoch, Curve(trial, epoch)).ok());
  }
  std::string checkpoint_id;
  if (trial.save_checkpoint()) {
    v1::UploadCheckpointResponse uploaded;
    ASSERT_TRUE(worker.Upload(trial.lease(), trial.budget_epochs(), "weights", &uploaded).ok());
    checkpoint_id = uploaded.checkpoint_id();
  }
  ASSERT_TRUE(worker
                  .Complete(trial.lease(), Curve(trial, trial.budget_epochs()),
                            trial.budget_epochs(), checkpoint_id)
                  .ok());
}

TEST(ServerAsha, PromotesWithoutWaitingForARungToFillAndEndsWithEveryTrialFinished) {
  TestServer server;
  const int64_t id = CreateStudy(server, AshaSpec(/*max_trials=*/20, /*max_epochs=*/9));
  RawWorker slow(&server.workers(), "slow");
  RawWorker fast(&server.workers(), "fast");
  // The slow worker takes trial 0 and sits on it while the fast one does everything else.
  v1::AcquireTrialResponse held;
  ASSERT_TRUE(slow.Acquire(&held).ok());
  ASSERT_TRUE(held.has_trial());
  EXPECT_EQ(held.budget_epochs(), 1);

  int leases = 0;
  int resumed_while_held = 0;
  int created_at_first_promotion = -1;
  for (;;) {
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(fast.Acquire(&trial).ok());
    if (!trial.has_trial()) break;  // nothing left the fast worker can do
    ++leases;
    if (trial.start_epoch() > 0) {
      // A promotion: the same trial continues from its checkpoint at the next rung, while
      // trial 0 has not finished rung 0 and configurations are still to be started.
      EXPECT_FALSE(trial.resume_checkpoint_id().empty());
      ++resumed_while_held;
      if (created_at_first_promotion < 0) {
        created_at_first_promotion = static_cast<int>(ListTrials(server, id).size());
      }
    }
    Train(fast, trial);
  }
  // The fast worker was never idle: it ran every configuration but the held one, and every
  // promotion it was owed, before it had to wait.
  EXPECT_GT(resumed_while_held, 0);
  EXPECT_GT(created_at_first_promotion, 0);
  EXPECT_LT(created_at_first_promotion, 20);
  EXPECT_EQ(ListTrials(server, id).size(), 20u);
  EXPECT_EQ(GetStudy(server, id).state(), v1::STUDY_RUNNING);  // trial 0 still runs

  // The slow worker finishes at last; whatever that enables runs, and the study ends.
  Train(slow, held);
  for (RawWorker* worker : {&fast, &slow}) {
    for (;;) {
      v1::AcquireTrialResponse trial;
      ASSERT_TRUE(worker->Acquire(&trial).ok());
      if (!trial.has_trial()) break;
      Train(*worker, trial);
    }
  }
  v1::Study study = GetStudy(server, id);
  EXPECT_EQ(study.state(), v1::STUDY_COMPLETED);
  EXPECT_EQ(study.algorithm(), "asha");
  ASSERT_EQ(study.brackets_size(), 1);
  EXPECT_EQ(study.brackets(0).rungs(), 3);
  EXPECT_EQ(study.brackets(0).trials(), 20);
  EXPECT_EQ(study.brackets(0).finished(), 20);
  std::map<int, int> by_budget;
  for (const v1::Trial& trial : ListTrials(server, id)) {
    EXPECT_EQ(trial.state(), trial.budget_epochs() == 9 ? v1::COMPLETED : v1::PRUNED)
        << trial.trial_id();
    EXPECT_TRUE(trial.has_value());
    by_budget[trial.budget_epochs()]++;
  }
  EXPECT_GE(by_budget[9], 1);
  EXPECT_GE(by_budget[3], 1);
  EXPECT_TRUE(study.has_best());
  EXPECT_EQ(study.best_trial().budget_epochs(), 9);
}

TEST(ServerMedianPruner, AClearlyBadTrialIsToldToStopAndEndsPruned) {
  TestServer server;
  const int64_t id = CreateStudy(server, MedianPrunedSpec(/*max_trials=*/6, /*epochs=*/4,
                                                     /*startup=*/3));
  RawWorker worker(&server.workers(), "w");
  for (int i = 0; i < 3; ++i) {  // the startup trials complete whatever they report
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(worker.Acquire(&trial).ok());
    for (int epoch = 1; epoch <= 4; ++epoch) {
      v1::ReportIntermediateResponse reply;
      ASSERT_TRUE(worker.Report(trial.lease(), epoch, 0.7 + 0.01 * epoch + 0.01 * i, &reply).ok());
      EXPECT_FALSE(reply.stop());
    }
    ASSERT_TRUE(worker.Complete(trial.lease(), 0.74 + 0.01 * i, 4).ok());
  }
  v1::AcquireTrialResponse bad;
  ASSERT_TRUE(worker.Acquire(&bad).ok());
  v1::ReportIntermediateResponse reply;
  ASSERT_TRUE(worker.Report(bad.lease(), 1, 0.1, &reply).ok());
  EXPECT_FALSE(reply.stop()) << "epoch 1 is the warmup";
  ASSERT_TRUE(worker.Report(bad.lease(), 2, 0.12, &reply).ok());
  EXPECT_TRUE(reply.stop());
  EXPECT_THAT(reply.reason(), HasSubstr("median"));
  v1::CompleteTrialResponse completed;
  ASSERT_TRUE(worker.Complete(bad.lease(), 0.12, 2, "", &completed).ok());
  EXPECT_EQ(completed.state(), v1::PRUNED);

  // A good trial is not stopped; one that is told to stop and then fails is PRUNED all the same.
  v1::AcquireTrialResponse good;
  ASSERT_TRUE(worker.Acquire(&good).ok());
  for (int epoch = 1; epoch <= 4; ++epoch) {
    ASSERT_TRUE(worker.Report(good.lease(), epoch, 0.75 + 0.01 * epoch, &reply).ok());
    EXPECT_FALSE(reply.stop());
  }
  ASSERT_TRUE(worker.Complete(good.lease(), 0.79, 4).ok());
  v1::AcquireTrialResponse lost;
  ASSERT_TRUE(worker.Acquire(&lost).ok());
  ASSERT_TRUE(worker.Report(lost.lease(), 1, 0.2).ok());
  ASSERT_TRUE(worker.Report(lost.lease(), 2, 0.2, &reply).ok());
  EXPECT_TRUE(reply.stop());
  v1::FailTrialResponse failed;
  ASSERT_TRUE(worker.Fail(lost.lease(), "worker shut down", true, &failed).ok());
  EXPECT_EQ(failed.state(), v1::PRUNED);

  std::vector<v1::Trial> trials = ListTrials(server, id);
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[3].state(), v1::PRUNED);
  EXPECT_TRUE(trials[3].has_value());
  EXPECT_DOUBLE_EQ(trials[3].value(), 0.12);  // its last value stays visible
  EXPECT_EQ(trials[3].epochs_done(), 2);
  EXPECT_EQ(trials[4].state(), v1::COMPLETED);
  EXPECT_EQ(trials[5].state(), v1::PRUNED);
  EXPECT_DOUBLE_EQ(trials[5].value(), 0.2);
  v1::Study study = GetStudy(server, id);
  EXPECT_EQ(study.state(), v1::STUDY_COMPLETED);
  EXPECT_EQ(study.trial_counts().at("PRUNED"), 2);
}

TEST(ServerTpeSampler, AStudyWithTpeAndTheMedianPrunerRunsToCompletion) {
  TestServer server;
  const int64_t id =
      CreateStudy(server, MedianPrunedSpec(/*max_trials=*/16, /*epochs=*/3,
                                      /*startup=*/2, "{kind: tpe, n_startup_trials: 4}"));
  RawWorker worker(&server.workers(), "w");
  int runs = 0;
  for (;;) {
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(worker.Acquire(&trial).ok());
    if (!trial.has_trial()) break;
    ++runs;
    int epoch = 1;
    for (; epoch <= trial.budget_epochs(); ++epoch) {
      v1::ReportIntermediateResponse reply;
      ASSERT_TRUE(worker.Report(trial.lease(), epoch, Curve(trial, epoch), &reply).ok());
      if (reply.stop()) break;
    }
    const int done = std::min(epoch, trial.budget_epochs());
    ASSERT_TRUE(worker.Complete(trial.lease(), Curve(trial, done), done).ok());
  }
  EXPECT_EQ(runs, 16);
  EXPECT_EQ(GetStudy(server, id).state(), v1::STUDY_COMPLETED);
  std::set<std::string> distinct;
  for (const v1::Trial& trial : ListTrials(server, id)) {
    EXPECT_TRUE(trial.state() == v1::COMPLETED || trial.state() == v1::PRUNED);
    distinct.insert(std::to_string(trial.params().at("units").int_value()) + "/" +
                    std::to_string(trial.params().at("learning_rate").float_value()));
  }
  EXPECT_GT(distinct.size(), 8u);
}

}  // namespace
}  // namespace tuner::testing
