// Hyperband resumes: a trial trained to epoch 2 with a checkpoint, then resumed to epoch 4,
// reports exactly what an uninterrupted 4-epoch run reports (the curve does not restart).
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/torch/trainer_test_util.h"
#include "tests/worker/recording_context.h"
#include "trial-worker/torch/torch_trainer.h"

namespace tuner::worker {
namespace {

void ExpectResumeMatchesUninterrupted(TrialAssignment a, const testing::TempDir& dir) {
  a.budget_epochs = 4;
  testing::RecordingContext straight;
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, straight).ok());
  ASSERT_EQ(straight.reports.size(), 4u);

  a.budget_epochs = 2;
  a.checkpoint_out_path = dir.File("rung1.ckpt");
  testing::RecordingContext first;
  absl::StatusOr<TrainResult> r1 = MakeTorchTrainer()->Train(a, first);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_TRUE(r1->checkpoint_written);
  ASSERT_TRUE(std::filesystem::exists(a.checkpoint_out_path));

  a.start_epoch = 2;
  a.budget_epochs = 4;
  a.resume_checkpoint_path = dir.File("rung1.ckpt");
  a.checkpoint_out_path = dir.File("rung2.ckpt");
  testing::RecordingContext second;
  absl::StatusOr<TrainResult> r2 = MakeTorchTrainer()->Train(a, second);
  ASSERT_TRUE(r2.ok()) << r2.status();
  ASSERT_EQ(second.reports.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const EpochReport& want = straight.reports[2 + i];
    const EpochReport& got = second.reports[i];
    EXPECT_EQ(got.epoch, want.epoch);
    EXPECT_NEAR(got.metrics.at("train_loss"), want.metrics.at("train_loss"), 1e-5);
    EXPECT_NEAR(got.metrics.at("val_loss"), want.metrics.at("val_loss"), 1e-5);
    EXPECT_NEAR(got.value, want.value, 1e-9);
  }
  EXPECT_EQ(r2->epochs_done, 4);
  EXPECT_TRUE(r2->checkpoint_written);
}

TEST(TorchCheckpoint, ResumedTrainedBackboneContinuesTheCurve) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 40, 10);
  ExpectResumeMatchesUninterrupted(testing::TinyAssignment(dir.path(), 4), dir);
}

TEST(TorchCheckpoint, ResumedFrozenHeadContinuesTheCurve) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 20, 4);
  TrialAssignment a = testing::TinyAssignment(dir.path(), 4);
  a.trainer_config["backbone"] = {{"name", "resnet50"}};  // random init, frozen
  a.trainer_config["reduce_lr_on_plateau"] = {{"factor", 0.5}, {"patience", 1}};
  a.params["optimizer"] = std::string("rmsprop");
  ExpectResumeMatchesUninterrupted(a, dir);
}

TEST(TorchCheckpoint, WrongOrMissingCheckpointIsRefused) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 8, 2);
  TrialAssignment a = testing::TinyAssignment(dir.path(), 2);
  a.checkpoint_out_path = dir.File("e1.ckpt");
  a.budget_epochs = 1;
  testing::RecordingContext context;
  ASSERT_TRUE(MakeTorchTrainer()->Train(a, context).ok());

  a.checkpoint_out_path.clear();
  a.start_epoch = 1;
  a.budget_epochs = 2;
  a.resume_checkpoint_path = dir.File("absent.ckpt");
  EXPECT_EQ(MakeTorchTrainer()->Train(a, context).status().code(), absl::StatusCode::kNotFound);
  a.resume_checkpoint_path = dir.File("e1.ckpt");
  a.executions = 2;
  absl::StatusOr<TrainResult> r = MakeTorchTrainer()->Train(a, context);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("executions"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace tuner::worker
