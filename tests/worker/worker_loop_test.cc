#include "trial-worker/worker_loop.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/fake_worker_service.h"
#include "tests/worker/recording_context.h"
#include "trial-worker/synthetic_trainer.h"
#include "trial-worker/worker_rpc.h"

namespace tuner::worker {
namespace {

using ::testing::HasSubstr;
using testing::FakeState;
using testing::FakeWorkerServer;

v1::AcquireTrialResponse Trial(int64_t id, int budget, nlohmann::json config = {},
                               int executions = 1) {
  v1::AcquireTrialResponse trial;
  trial.mutable_lease()->set_trial_id(id);
  trial.mutable_lease()->set_attempt(1);
  trial.set_study_id(1);
  trial.set_trial_number(id - 1);
  (*trial.mutable_params())["learning_rate"].set_float_value(1e-3 * static_cast<double>(id));
  (*trial.mutable_params())["units"].set_int_value(128);
  (*trial.mutable_params())["optimizer"].set_string_value("adam");
  if (config.is_null()) config = nlohmann::json::object();
  if (!config.contains("kind")) config["kind"] = "synthetic";
  trial.set_trainer_config_json(config.dump());
  trial.set_objective_metric("val_accuracy");
  trial.set_direction(v1::MAXIMIZE);
  trial.set_budget_epochs(budget);
  trial.set_executions(executions);
  trial.set_seed(1000 + static_cast<uint64_t>(id));
  return trial;
}

// The worker's view of a trial, trained directly: what the loop should have reported.
TrainResult TrainDirectly(const v1::AcquireTrialResponse& trial) {
  TrialAssignment a;
  a.trial_id = trial.lease().trial_id();
  for (const auto& [name, value] : trial.params()) {
    if (value.has_int_value()) a.params[name] = value.int_value();
    if (value.has_float_value()) a.params[name] = value.float_value();
    if (value.has_string_value()) a.params[name] = value.string_value();
  }
  a.trainer_config = nlohmann::json::parse(trial.trainer_config_json());
  a.objective_metric = trial.objective_metric();
  a.maximize = trial.direction() != v1::MINIMIZE;
  a.budget_epochs = trial.budget_epochs();
  a.executions = trial.executions();
  a.seed = trial.seed();
  testing::RecordingContext context;
  SyntheticTrainer trainer;
  return *trainer.Train(a, context);
}

class WorkerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    ASSERT_TRUE(server_.running());
  }

  WorkerOptions Options(int max_trials) {
    WorkerOptions options;
    options.server_address = server_.address();
    options.name = "test-worker";
    options.work_dir = dir_.File("work");
    options.wait_seconds = 0.3;
    options.max_trials = max_trials;
    options.idle_exit_seconds = 10;  // a safety net: no test should get near it
    options.initial_backoff_seconds = 0.05;
    options.max_backoff_seconds = 0.2;
    options.rpc_timeout_seconds = 2;
    return options;
  }

  absl::Status RunWorker(WorkerOptions options) {
    WorkerLoop loop(options, MakeWorkerChannel(options.server_address, nullptr));
    absl::Status status = loop.Run(stop_);
    stats_ = loop.stats();
    return status;
  }

  void Queue(v1::AcquireTrialResponse trial) {
    std::lock_guard<std::mutex> lock(state_.mu);
    state_.queue.push_back(std::move(trial));
  }

  testing::TempDir dir_;
  FakeState state_;
  FakeWorkerServer server_{&state_};
  std::atomic<bool> stop_{false};
  WorkerStats stats_;
};

TEST_F(WorkerLoopTest, CompletesEveryTrialOnceWithOneReportPerEpochAndExecution) {
  std::vector<v1::AcquireTrialResponse> trials = {Trial(1, 3), Trial(2, 4, {}, 2), Trial(3, 2)};
  trials[2].set_objective_metric("val_loss");
  trials[2].set_direction(v1::MINIMIZE);
  for (const auto& trial : trials) Queue(trial);

  WorkerOptions options = Options(3);
  options.metadata = {{"x-tuner-token", "secret"}};
  ASSERT_TRUE(RunWorker(options).ok());

  std::lock_guard<std::mutex> lock(state_.mu);
  EXPECT_EQ(state_.registrations, 1);
  EXPECT_EQ(state_.metadata.at(0).at("x-tuner-token"), "secret");
  ASSERT_EQ(state_.completions.size(), 3u);
  EXPECT_TRUE(state_.fails.empty());
  for (size_t i = 0; i < trials.size(); ++i) {
    const v1::AcquireTrialResponse& trial = trials[i];
    const v1::CompleteTrialRequest& completion = state_.completions[i];
    const int64_t id = trial.lease().trial_id();
    EXPECT_EQ(completion.lease().trial_id(), id);
    EXPECT_EQ(completion.lease().attempt(), 1);
    EXPECT_EQ(completion.epochs_done(), trial.budget_epochs());
    EXPECT_EQ(state_.reports[id].size(),
              static_cast<size_t>(trial.budget_epochs() * trial.executions()));
    const TrainResult want = TrainDirectly(trial);
    EXPECT_DOUBLE_EQ(completion.value(), want.value) << "trial " << id;
    EXPECT_DOUBLE_EQ(completion.metrics().at("val_accuracy"), want.metrics.at("val_accuracy"));
    EXPECT_TRUE(completion.checkpoint_id().empty());
  }
  EXPECT_EQ(stats_.trials_completed, 3);
  EXPECT_EQ(stats_.worker_id, 7);
}

TEST_F(WorkerLoopTest, HeartbeatStopDropsTheTrial) {
  state_.lease_seconds = 0.3;  // a heartbeat every 0.1 s
  state_.heartbeat_stop.insert(1);
  Queue(Trial(1, 50, {{"sleep_seconds", 0.05}}));
  Queue(Trial(2, 2));
  ASSERT_TRUE(RunWorker(Options(2)).ok());

  std::lock_guard<std::mutex> lock(state_.mu);
  EXPECT_GE(state_.heartbeats[1], 1);
  EXPECT_LT(state_.reports[1].size(), 50u);
  ASSERT_EQ(state_.completions.size(), 1u);  // only trial 2
  EXPECT_EQ(state_.completions[0].lease().trial_id(), 2);
  EXPECT_TRUE(state_.fails.empty());
  EXPECT_EQ(stats_.trials_dropped, 1);
}

TEST_F(WorkerLoopTest, LostLeaseDropsTheTrial) {
  state_.lease_seconds = 0.3;
  state_.heartbeat_refuse.insert(1);
  Queue(Trial(1, 50, {{"sleep_seconds", 0.05}}));
  ASSERT_TRUE(RunWorker(Options(1)).ok());

  std::lock_guard<std::mutex> lock(state_.mu);
  EXPECT_LT(state_.reports[1].size(), 50u);
  EXPECT_TRUE(state_.completions.empty());
  EXPECT_TRUE(state_.fails.empty());
  EXPECT_EQ(stats_.trials_dropped, 1);
}

TEST_F(WorkerLoopTest, ReportAnsweringStopCompletesWithTheEpochsDone) {
  state_.report_stop_at[1] = 2;
  Queue(Trial(1, 9));
  ASSERT_TRUE(RunWorker(Options(1)).ok());

  std::lock_guard<std::mutex> lock(state_.mu);
  EXPECT_EQ(state_.reports[1].size(), 2u);
  ASSERT_EQ(state_.completions.size(), 1u);
  EXPECT_EQ(state_.completions[0].epochs_done(), 2);
  EXPECT_DOUBLE_EQ(state_.completions[0].value(), state_.reports[1][1].value());
}

TEST_F(WorkerLoopTest, TrainerErrorsFailTheTrialAndTheWorkerKeepsServing) {
  Queue(Trial(1, 3, {{"noise", -1}}));               // INVALID_ARGUMENT
  Queue(Trial(2, 3, {{"nan_at_epoch", 2}}));         // FAILED_PRECONDITION
  Queue(Trial(3, 3, {{"fail_probability", 1.0}}));   // UNAVAILABLE
  Queue(Trial(4, 3, {{"kind", "resnet"}}));          // unknown trainer.kind
  Queue(Trial(5, 2));
  ASSERT_TRUE(RunWorker(Options(5)).ok());

  std::lock_guard<std::mutex> lock(state_.mu);
  ASSERT_EQ(state_.fails.size(), 4u);
  EXPECT_EQ(state_.fails[0].lease().trial_id(), 1);
  EXPECT_FALSE(state_.fails[0].retryable());
  EXPECT_THAT(state_.fails[0].reason(), HasSubstr("trainer.noise"));
  EXPECT_FALSE(state_.fails[1].retryable());
  EXPECT_EQ(state_.fails[1].reason(), "loss became NaN at epoch 2");
  EXPECT_TRUE(state_.fails[2].retryable());
  EXPECT_THAT(state_.fails[2].reason(), HasSubstr("synthetic failure"));
  EXPECT_FALSE(state_.fails[3].retryable());
  EXPECT_THAT(state_.fails[3].reason(), HasSubstr("trainer.kind"));
  ASSERT_EQ(state_.completions.size(), 1u);
  EXPECT_EQ(state_.completions[0].lease().trial_id(), 5);
  EXPECT_EQ(stats_.trials_failed, 4);
  EXPECT_EQ(stats_.trials_completed, 1);
}

TEST_F(WorkerLoopTest, UploadsTheCheckpointAndResumesFromIt) {
  v1::AcquireTrialResponse rung0 = Trial(1, 3, {}, 2);
  rung0.set_save_checkpoint(true);
  Queue(rung0);
  ASSERT_TRUE(RunWorker(Options(1)).ok());
  std::string checkpoint_id;
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    ASSERT_EQ(state_.uploads.size(), 1u);
    EXPECT_EQ(state_.uploads[0].first.trial_id(), 1);
    EXPECT_EQ(state_.uploads[0].second, 3);
    ASSERT_EQ(state_.completions.size(), 1u);
    checkpoint_id = state_.completions[0].checkpoint_id();
    EXPECT_EQ(checkpoint_id, "ckpt1");
    state_.reports.clear();
  }

  // The promotion: same trial, next attempt, epochs 4..9 from the checkpoint.
  v1::AcquireTrialResponse rung1 = Trial(1, 9, {}, 2);
  rung1.mutable_lease()->set_attempt(2);
  rung1.set_start_epoch(3);
  rung1.set_resume_checkpoint_id(checkpoint_id);
  Queue(rung1);
  ASSERT_TRUE(RunWorker(Options(1)).ok());

  std::lock_guard<std::mutex> lock(state_.mu);
  ASSERT_EQ(state_.completions.size(), 2u);
  EXPECT_TRUE(state_.fails.empty());
  ASSERT_EQ(state_.reports[1].size(), 12u);
  EXPECT_EQ(state_.reports[1].front().epoch(), 4);
  EXPECT_EQ(state_.completions[1].epochs_done(), 9);
  EXPECT_DOUBLE_EQ(state_.completions[1].value(), TrainDirectly(Trial(1, 9, {}, 2)).value);
}

TEST_F(WorkerLoopTest, CorruptCheckpointDownloadFailsTheTrialRetryably) {
  state_.checkpoints["ckpt9"] = "{\"trainer\":\"synthetic\"}";
  state_.corrupt_download_sha = true;
  v1::AcquireTrialResponse trial = Trial(1, 9);
  trial.set_start_epoch(3);
  trial.set_resume_checkpoint_id("ckpt9");
  Queue(trial);
  ASSERT_TRUE(RunWorker(Options(1)).ok());

  std::lock_guard<std::mutex> lock(state_.mu);
  ASSERT_EQ(state_.fails.size(), 1u);
  EXPECT_TRUE(state_.fails[0].retryable());
  EXPECT_THAT(state_.fails[0].reason(), HasSubstr("sha256"));
  EXPECT_TRUE(state_.reports[1].empty());
}

TEST_F(WorkerLoopTest, RetriesUntilTheServerStartsThenRegistersOnce) {
  const int port = server_.port();
  server_.Stop();
  Queue(Trial(1, 2));
  WorkerOptions options = Options(1);
  absl::Status status;
  std::thread worker([&] { status = RunWorker(options); });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    EXPECT_EQ(state_.registrations, 0);
  }
  server_.Start(port);
  ASSERT_TRUE(server_.running());
  worker.join();
  EXPECT_TRUE(status.ok()) << status;
  std::lock_guard<std::mutex> lock(state_.mu);
  EXPECT_EQ(state_.registrations, 1);
  EXPECT_EQ(state_.completions.size(), 1u);
}

TEST_F(WorkerLoopTest, ServerRestartMidTrialIsRiddenOut) {
  state_.lease_seconds = 3;
  Queue(Trial(1, 12, {{"sleep_seconds", 0.05}}));
  absl::Status status;
  std::thread worker([&] { status = RunWorker(Options(1)); });
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard<std::mutex> lock(state_.mu);
    if (state_.reports[1].size() >= 3) break;
  }
  const int port = server_.port();
  server_.Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  server_.Start(port);
  ASSERT_TRUE(server_.running());
  worker.join();
  EXPECT_TRUE(status.ok()) << status;
  std::lock_guard<std::mutex> lock(state_.mu);
  ASSERT_EQ(state_.completions.size(), 1u);
  EXPECT_EQ(state_.completions[0].epochs_done(), 12);
  std::set<int> epochs;
  for (const auto& report : state_.reports[1]) epochs.insert(report.epoch());
  EXPECT_EQ(epochs.size(), 12u);  // every epoch reported, none lost in the outage
}

TEST_F(WorkerLoopTest, StopFlagEndsAnIdleLongPollPromptly) {
  WorkerOptions options = Options(0);
  options.wait_seconds = 30;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop_ = true;
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(RunWorker(options).ok());
  stopper.join();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2);
}

TEST_F(WorkerLoopTest, StopFlagMidTrialHandsTheTrialBackRetryably) {
  Queue(Trial(1, 100, {{"sleep_seconds", 0.05}}));
  std::thread stopper([&] {
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::lock_guard<std::mutex> lock(state_.mu);
      if (!state_.reports[1].empty()) break;
    }
    stop_ = true;
  });
  EXPECT_TRUE(RunWorker(Options(0)).ok());
  stopper.join();
  std::lock_guard<std::mutex> lock(state_.mu);
  EXPECT_TRUE(state_.completions.empty());
  ASSERT_EQ(state_.fails.size(), 1u);
  EXPECT_TRUE(state_.fails[0].retryable());
  EXPECT_THAT(state_.fails[0].reason(), HasSubstr("shut down"));
}

TEST_F(WorkerLoopTest, IdleExitEndsRunWithoutWork) {
  WorkerOptions options = Options(0);
  options.idle_exit_seconds = 0.5;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(RunWorker(options).ok());
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 0.5);
  EXPECT_LT(took, 3);
}

}  // namespace
}  // namespace tuner::worker
