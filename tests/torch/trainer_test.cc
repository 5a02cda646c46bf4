// The torch trainer end to end on tiny data: reports, errors, stop answers, executions,
// early stopping.
#include <algorithm>
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/torch/trainer_test_util.h"
#include "tests/worker/recording_context.h"
#include "trial-worker/torch/torch_trainer.h"

namespace tuner::worker {
namespace {

class TorchTrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::WriteTinyCifar10(data_.path(), 40, 10); }
  absl::StatusOr<TrainResult> Train(const TrialAssignment& a, TrialContext& context) {
    return MakeTorchTrainer()->Train(a, context);
  }
  testing::TempDir data_;
};

TEST_F(TorchTrainerTest, LeNet5LearnsAndReportsEveryEpoch) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 6);
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(context.reports.size(), 6u);
  for (int e = 0; e < 6; ++e) {
    const EpochReport& r = context.reports[e];
    EXPECT_EQ(r.epoch, e + 1);
    EXPECT_EQ(r.execution, 0);
    for (const char* key : {"val_accuracy", "val_loss", "train_loss", "lr", "images_per_second"}) {
      EXPECT_TRUE(r.metrics.count(key)) << key;
    }
    EXPECT_EQ(r.value, r.metrics.at("val_accuracy"));
    EXPECT_DOUBLE_EQ(r.metrics.at("lr"), 3e-3);
  }
  EXPECT_GT(context.reports.back().metrics.at("val_accuracy"), 0.6);
  EXPECT_LT(context.reports.back().metrics.at("train_loss"),
            context.reports.front().metrics.at("train_loss"));
  EXPECT_EQ(result->epochs_done, 6);
  EXPECT_FALSE(result->stopped);
  double best = 0;
  for (const EpochReport& r : context.reports) best = std::max(best, r.value);
  EXPECT_DOUBLE_EQ(result->value, best);  // the best epoch (Keras Tuner's rule)
}

TEST_F(TorchTrainerTest, UnknownBackboneIsInvalidArgumentListingTheAllowedOnes) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 1);
  a.trainer_config["backbone"]["name"] = "x";
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(),
            "trainer.backbone.name: unknown backbone \"x\" (allowed: resnet50, lenet5, vgg_bn, "
            "resnet18_cifar, small_cnn, resnet18, resnet34, resnet101, resnet152, vgg16_bn, "
            "mobilenet_v2, densenet121, efficientnet_b0, efficientnet_b1, efficientnet_b2, "
            "googlenet, inception_v3)");
}

TEST_F(TorchTrainerTest, UnknownKeyAndBadParamAreInvalidArgument) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 1);
  a.trainer_config["batchsize"] = 3;
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("trainer.batchsize: unknown key"), std::string::npos);
  a = testing::TinyAssignment(data_.path(), 1);
  a.params["optimizer"] = std::string("adagrad");
  result = Train(a, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("params.optimizer"), std::string::npos);
}

TEST_F(TorchTrainerTest, MissingDatasetIsNotFoundNamingThePath) {
  TrialAssignment a = testing::TinyAssignment("/no/such/cifar", 1);
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("/no/such/cifar"), std::string::npos);
}

TEST_F(TorchTrainerTest, BadWeightsFileIsInvalidArgumentNamingTheFile) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 1);
  const std::string weights = data_.File("resnet50-bad.pth");
  std::ofstream(weights) << "not a zip";
  a.trainer_config["backbone"] = {{"name", "resnet50"}, {"weights", weights}};
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(weights), std::string::npos) << result.status();
  a.trainer_config["backbone"]["weights"] = data_.File("absent.pth");
  result = Train(a, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TorchTrainerTest, NanLossFailsThePreconditionWithTheEpoch) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 3);
  a.trainer_config["TEST_nan_at_epoch"] = 2;
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(result.status().message(), "loss became NaN at epoch 2");
  EXPECT_EQ(context.reports.size(), 1u);
}

TEST_F(TorchTrainerTest, StopAnswerEndsTrainingAfterThatEpoch) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 5);
  testing::RecordingContext context(/*stop_after_reports=*/2);
  absl::StatusOr<TrainResult> result = Train(a, context);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(context.reports.size(), 2u);
  EXPECT_TRUE(result->stopped);
  EXPECT_EQ(result->epochs_done, 2);
}

TEST_F(TorchTrainerTest, ExecutionsReportSeparatelyAndTheValueIsTheMeanOfTheirBestEpochs) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 2);
  a.executions = 2;
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(context.reports.size(), 4u);
  EXPECT_EQ(context.reports[2].epoch, 2);
  EXPECT_EQ(context.reports[2].execution, 0);
  EXPECT_EQ(context.reports[3].execution, 1);
  EXPECT_NE(context.reports[2].metrics.at("train_loss"), context.reports[3].metrics.at("train_loss"));
  const double best0 = std::max(context.reports[0].value, context.reports[2].value);
  const double best1 = std::max(context.reports[1].value, context.reports[3].value);
  EXPECT_NEAR(result->value, (best0 + best1) / 2, 1e-12);
}

TEST_F(TorchTrainerTest, EarlyStoppingEndsAPlateauedTrial) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 6);
  a.params["learning_rate"] = 1e-12;  // nothing improves after epoch 1
  a.trainer_config["early_stopping"] = {{"patience", 1}, {"restore_best", true}};
  testing::RecordingContext context;
  absl::StatusOr<TrainResult> result = Train(a, context);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(context.reports.size(), 2u);
  EXPECT_EQ(result->epochs_done, 2);
  EXPECT_FALSE(result->stopped);
}

TEST_F(TorchTrainerTest, ReduceLrOnPlateauAndCosineSetTheReportedLr) {
  TrialAssignment a = testing::TinyAssignment(data_.path(), 3);
  a.params["learning_rate"] = 1e-12;
  a.trainer_config["reduce_lr_on_plateau"] = {{"factor", 0.5}, {"patience", 1}};
  testing::RecordingContext context;
  ASSERT_TRUE(Train(a, context).ok());
  ASSERT_EQ(context.reports.size(), 3u);
  EXPECT_DOUBLE_EQ(context.reports[2].metrics.at("lr"), 0.5e-12);

  a = testing::TinyAssignment(data_.path(), 3);
  a.trainer_config["cosine"] = {{"warmup_epochs", 1}};
  testing::RecordingContext cosine;
  ASSERT_TRUE(Train(a, cosine).ok());
  EXPECT_DOUBLE_EQ(cosine.reports[0].metrics.at("lr"), 3e-3);  // end of warm-up
  EXPECT_DOUBLE_EQ(cosine.reports[1].metrics.at("lr"), 3e-3);  // cosine starts at the top
  EXPECT_NEAR(cosine.reports[2].metrics.at("lr"), 1.5e-3, 1e-12);
}

}  // namespace
}  // namespace tuner::worker
