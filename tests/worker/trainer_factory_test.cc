#include "trial-worker/trainer_factory.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tuner::worker {
namespace {

using ::testing::HasSubstr;

TEST(MakeTrainer, SyntheticIsAlwaysThere) {
  auto trainer = MakeTrainer("synthetic");
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_NE(trainer->get(), nullptr);
}

TEST(MakeTrainer, TorchNeedsATorchBuild) {
  auto trainer = MakeTrainer("torch");
  if (BuiltWithTorch()) {
    EXPECT_TRUE(trainer.ok()) << trainer.status();
  } else {
    EXPECT_EQ(trainer.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(trainer.status().message(),
              "this trial-worker was built without LibTorch; trainer.kind torch is unavailable");
  }
}

TEST(MakeTrainer, UnknownKindNamesTheFieldAndTheAllowedValues) {
  auto trainer = MakeTrainer("resnet");
  EXPECT_EQ(trainer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(trainer.status().message()), HasSubstr("trainer.kind"));
  EXPECT_THAT(std::string(trainer.status().message()), HasSubstr("synthetic, torch"));
}

TEST(ResolveDevice, CpuAndAuto) {
  EXPECT_EQ(*ResolveDevice("cpu"), "cpu");
  const std::string automatic = *ResolveDevice("auto");
  if (BuiltWithTorch()) {
    EXPECT_TRUE(automatic == "cpu" || automatic == "cuda:0") << automatic;
  } else {
    EXPECT_EQ(automatic, "cpu");
  }
}

TEST(ResolveDevice, MalformedValueNamesTheFlag) {
  for (const char* bad : {"gpu", "cuda", "cuda:", "cuda:x", "CPU", "cuda:-1", ""}) {
    auto device = ResolveDevice(bad);
    EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(device.status().message()), HasSubstr("--device")) << bad;
  }
}

TEST(ResolveDevice, CudaNeedsATorchBuildAndTheDevice) {
  // cuda:4096 exists on no machine: refused whether or not LibTorch is built in.
  auto device = ResolveDevice("cuda:4096");
  EXPECT_EQ(device.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("--device cuda:4096"));
  if (!BuiltWithTorch()) {
    EXPECT_EQ(ResolveDevice("cuda:0").status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

}  // namespace
}  // namespace tuner::worker
