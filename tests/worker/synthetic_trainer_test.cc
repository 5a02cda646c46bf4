#include "trial-worker/synthetic_trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/recording_context.h"

namespace tuner::worker {
namespace {

using ::testing::HasSubstr;
using testing::RecordingContext;

TrialAssignment Assignment(int budget, nlohmann::json config = nlohmann::json::object()) {
  TrialAssignment a;
  a.study_id = 1;
  a.trial_id = 42;
  a.params = {{"units", int64_t{256}},
              {"dropout", 0.3},
              {"optimizer", std::string("adam")},
              {"learning_rate", 2e-3}};
  a.trainer_config = std::move(config);
  a.budget_epochs = budget;
  a.seed = 1234;
  return a;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(SyntheticTrainer, SameInputsGiveTheSameCurve) {
  SyntheticTrainer trainer;
  RecordingContext first, second;
  auto a = trainer.Train(Assignment(10), first);
  auto b = trainer.Train(Assignment(10), second);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(first.reports.size(), 10u);
  ASSERT_EQ(second.reports.size(), 10u);
  for (size_t i = 0; i < first.reports.size(); ++i) {
    EXPECT_EQ(first.reports[i].value, second.reports[i].value);
    EXPECT_EQ(first.reports[i].metrics, second.reports[i].metrics);
  }
  EXPECT_EQ(a->value, b->value);
  EXPECT_EQ(a->epochs_done, 10);
  EXPECT_FALSE(a->stopped);
}

TEST(SyntheticTrainer, SeedChangesOnlyTheNoise) {
  SyntheticTrainer trainer;
  RecordingContext first, second;
  TrialAssignment other = Assignment(5);
  other.seed = 99;
  ASSERT_TRUE(trainer.Train(Assignment(5), first).ok());
  ASSERT_TRUE(trainer.Train(other, second).ok());
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_NE(first.reports[i].value, second.reports[i].value);
    EXPECT_NEAR(first.reports[i].value, second.reports[i].value, 0.1);
  }
}

// Pins the documented formula: learning_rate 1e-3 alone gives q = 1, A = 0.95, tau = 4.
TEST(SyntheticTrainer, CurveMatchesTheDocumentedFormula) {
  const search::Params params = {{"learning_rate", 1e-3}};
  for (int epoch : {1, 4, 20}) {
    const auto metrics = SyntheticMetrics(params, epoch, /*seed=*/0, /*noise=*/0);
    EXPECT_DOUBLE_EQ(metrics.at("val_accuracy"), 0.95 * (1 - std::exp(-epoch / 4.0)));
    EXPECT_DOUBLE_EQ(metrics.at("val_loss"), 1 - metrics.at("val_accuracy"));
    EXPECT_DOUBLE_EQ(metrics.at("lr"), 1e-3);
  }
}

TEST(SyntheticTrainer, NoiseFreeCurveRisesAndStaysBounded) {
  SyntheticTrainer trainer;
  RecordingContext context;
  ASSERT_TRUE(trainer.Train(Assignment(60, {{"noise", 0}}), context).ok());
  double previous = 0;
  for (const EpochReport& report : context.reports) {
    EXPECT_GE(report.value, previous);
    EXPECT_GE(report.value, 0);
    EXPECT_LE(report.value, 0.95);
    previous = report.value;
  }
  EXPECT_GT(previous, 0.5);  // near its asymptote after 60 epochs
}

TEST(SyntheticTrainer, NoisyCurveIsMonotoneWithinTheNoiseAndClamped) {
  SyntheticTrainer trainer;
  RecordingContext context;
  ASSERT_TRUE(trainer.Train(Assignment(40), context).ok());  // noise 0.01
  for (size_t i = 0; i < context.reports.size(); ++i) {
    EXPECT_GE(context.reports[i].value, 0);
    EXPECT_LE(context.reports[i].value, 1);
    if (i > 0) {
      EXPECT_GT(context.reports[i].value, context.reports[i - 1].value - 0.08);
    }
  }
  RecordingContext loud;
  ASSERT_TRUE(trainer.Train(Assignment(40, {{"noise", 5.0}}), loud).ok());
  for (const EpochReport& report : loud.reports) {
    EXPECT_GE(report.value, 0);
    EXPECT_LE(report.value, 1);
  }
}

TEST(SyntheticTrainer, LearningRateNearOneEMinusThreeIsBest) {
  SyntheticTrainer trainer;
  double best = 0;
  double best_lr = 0;
  for (double lr : {1e-5, 1e-4, 1e-3, 1e-2, 1e-1}) {
    TrialAssignment a = Assignment(30, {{"noise", 0}});
    a.params["learning_rate"] = lr;
    RecordingContext context;
    auto result = trainer.Train(a, context);
    ASSERT_TRUE(result.ok());
    if (result->value > best) {
      best = result->value;
      best_lr = lr;
    }
  }
  EXPECT_EQ(best_lr, 1e-3);
}

// Keras Tuner's rule: each execution counts with its best epoch, the trial with their mean;
// objective.reduce: last takes the last epochs instead.
TEST(SyntheticTrainer, ValueIsTheMeanOverExecutionsOfEachOnesBestEpoch) {
  SyntheticTrainer trainer;
  TrialAssignment a = Assignment(6, {{"noise", 0.2}});  // noisy: the best is not the last
  a.executions = 3;
  RecordingContext context;
  auto result = trainer.Train(a, context);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(context.reports.size(), 18u);
  std::map<int, const EpochReport*> best, last;
  for (const EpochReport& report : context.reports) {
    const EpochReport*& b = best[report.execution];
    if (b == nullptr || report.value > b->value) b = &report;
    if (report.epoch == 6) last[report.execution] = &report;
  }
  ASSERT_EQ(best.size(), 3u);
  double best_sum = 0, best_loss = 0, last_sum = 0;
  bool some_best_is_not_last = false;
  for (int x = 0; x < 3; ++x) {
    best_sum += best[x]->value;
    best_loss += best[x]->metrics.at("val_loss");
    last_sum += last[x]->value;
    some_best_is_not_last = some_best_is_not_last || best[x]->epoch != 6;
  }
  ASSERT_TRUE(some_best_is_not_last) << "the noise should make a best epoch before the last";
  EXPECT_NEAR(result->value, best_sum / 3, 1e-12);
  EXPECT_NEAR(result->metrics.at("val_accuracy"), best_sum / 3, 1e-12);
  EXPECT_NEAR(result->metrics.at("val_loss"), best_loss / 3, 1e-12);
  // Executions differ by their seed (seed + execution): their noise differs.
  EXPECT_NE(context.reports[0].value, context.reports[1].value);

  a.reduce_last = true;
  RecordingContext again;
  result = trainer.Train(a, again);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->value, last_sum / 3, 1e-12);
}

TEST(SyntheticTrainer, ResumeFromCheckpointContinuesExactly) {
  testing::TempDir dir;
  SyntheticTrainer trainer;

  TrialAssignment straight = Assignment(9);
  straight.executions = 2;
  straight.checkpoint_out_path = dir.File("straight.ckpt");
  RecordingContext straight_context;
  auto whole = trainer.Train(straight, straight_context);
  ASSERT_TRUE(whole.ok()) << whole.status();

  TrialAssignment rung0 = Assignment(3);
  rung0.executions = 2;
  rung0.checkpoint_out_path = dir.File("epoch3.ckpt");
  RecordingContext rung0_context;
  auto first = trainer.Train(rung0, rung0_context);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->checkpoint_written);

  TrialAssignment rung1 = Assignment(9);
  rung1.executions = 2;
  rung1.start_epoch = 3;
  rung1.resume_checkpoint_path = dir.File("epoch3.ckpt");
  rung1.checkpoint_out_path = dir.File("resumed.ckpt");
  RecordingContext rung1_context;
  auto resumed = trainer.Train(rung1, rung1_context);
  ASSERT_TRUE(resumed.ok()) << resumed.status();

  ASSERT_EQ(rung1_context.reports.size(), 12u);  // epochs 4..9, two executions
  EXPECT_EQ(rung1_context.reports.front().epoch, 4);
  for (size_t i = 0; i < rung1_context.reports.size(); ++i) {
    const EpochReport& got = rung1_context.reports[i];
    const EpochReport& want = straight_context.reports[i + 6];
    EXPECT_EQ(got.epoch, want.epoch);
    EXPECT_EQ(got.execution, want.execution);
    EXPECT_EQ(got.value, want.value);
    EXPECT_EQ(got.metrics, want.metrics);
  }
  EXPECT_EQ(resumed->value, whole->value);
  EXPECT_EQ(resumed->metrics, whole->metrics);
  EXPECT_EQ(resumed->epochs_done, 9);
  EXPECT_EQ(ReadFile(dir.File("resumed.ckpt")), ReadFile(dir.File("straight.ckpt")));
}

TEST(SyntheticTrainer, ResumeRefusesACheckpointOfAnotherEpoch) {
  testing::TempDir dir;
  SyntheticTrainer trainer;
  TrialAssignment rung0 = Assignment(3);
  rung0.checkpoint_out_path = dir.File("epoch3.ckpt");
  RecordingContext context;
  ASSERT_TRUE(trainer.Train(rung0, context).ok());

  TrialAssignment rung1 = Assignment(9);
  rung1.start_epoch = 2;
  rung1.resume_checkpoint_path = dir.File("epoch3.ckpt");
  auto result = trainer.Train(rung1, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("checkpoint is at epoch 3 but start_epoch is 2"));

  rung1.start_epoch = 3;
  rung1.resume_checkpoint_path = dir.File("missing.ckpt");
  EXPECT_EQ(trainer.Train(rung1, context).status().code(), absl::StatusCode::kNotFound);
}

TEST(SyntheticTrainer, NanAtEpochFailsWithFailedPrecondition) {
  SyntheticTrainer trainer;
  RecordingContext context;
  auto result = trainer.Train(Assignment(5, {{"nan_at_epoch", 3}}), context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(result.status().message(), "loss became NaN at epoch 3");
  EXPECT_EQ(context.reports.size(), 2u);
}

TEST(SyntheticTrainer, FailProbabilityOneFailsRetryably) {
  SyntheticTrainer trainer;
  RecordingContext context;
  auto result = trainer.Train(Assignment(5, {{"fail_probability", 1.0}}), context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("synthetic failure"));

  RecordingContext never;
  EXPECT_TRUE(trainer.Train(Assignment(5, {{"fail_probability", 0.0}}), never).ok());
}

TEST(SyntheticTrainer, BadConfigIsInvalidArgumentNamingTheKey) {
  SyntheticTrainer trainer;
  RecordingContext context;
  auto noise = trainer.Train(Assignment(2, {{"noise", -1}}), context);
  EXPECT_EQ(noise.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(noise.status().message()), HasSubstr("trainer.noise"));
  auto sleep = trainer.Train(Assignment(2, {{"sleep_seconds", "long"}}), context);
  EXPECT_THAT(std::string(sleep.status().message()), HasSubstr("trainer.sleep_seconds"));
  auto nan = trainer.Train(Assignment(2, {{"nan_at_epoch", 0}}), context);
  EXPECT_THAT(std::string(nan.status().message()), HasSubstr("trainer.nan_at_epoch"));
  EXPECT_TRUE(context.reports.empty());
}

TEST(SyntheticTrainer, ReportAnsweringStopEndsTrainingWithTheCompletedEpochs) {
  SyntheticTrainer trainer;
  TrialAssignment a = Assignment(10);
  a.executions = 2;
  RecordingContext context(/*stop_after_reports=*/5);  // epoch 3 of execution 0
  auto result = trainer.Train(a, context);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->stopped);
  EXPECT_EQ(context.reports.size(), 5u);
  EXPECT_EQ(result->epochs_done, 2);
  EXPECT_NEAR(result->value, (context.reports[2].value + context.reports[3].value) / 2, 1e-12);
}

TEST(SyntheticTrainer, StopRequestedInterruptsTheSleep) {
  SyntheticTrainer trainer;
  RecordingContext context;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    context.stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto result = trainer.Train(Assignment(5, {{"sleep_seconds", 1.0}}), context);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->stopped);
  EXPECT_EQ(result->epochs_done, 0);
  EXPECT_TRUE(context.reports.empty());
  EXPECT_LT(took, 0.9);  // 5 s without the stop
}

TEST(SyntheticTrainer, ValLossObjectiveIsOneMinusAccuracy) {
  SyntheticTrainer trainer;
  TrialAssignment a = Assignment(3);
  a.objective_metric = "val_loss";
  a.maximize = false;
  RecordingContext context;
  auto result = trainer.Train(a, context);
  ASSERT_TRUE(result.ok());
  for (const EpochReport& report : context.reports) {
    EXPECT_DOUBLE_EQ(report.value, 1 - report.metrics.at("val_accuracy"));
  }
  EXPECT_DOUBLE_EQ(result->value, result->metrics.at("val_loss"));
}

TEST(SyntheticTrainer, AnObjectiveItDoesNotReportIsRefusedNamingTheAllowedOnes) {
  SyntheticTrainer trainer;
  TrialAssignment a = Assignment(2);
  a.objective_metric = "val_acc";
  RecordingContext context;
  auto result = trainer.Train(a, context);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("val_accuracy, val_loss"), std::string::npos)
      << result.status();
  EXPECT_TRUE(context.reports.empty());
}

}  // namespace
}  // namespace tuner::worker
