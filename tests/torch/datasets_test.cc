// Dataset readers (official CIFAR binary and IDX formats, written tiny by the tests) and the
// batch transform.
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/testing/temp_dir.h"
#include "tests/torch/tiny_datasets.h"
#include "trial-worker/torch/batch_loader.h"
#include "trial-worker/torch/batch_transform.h"
#include "trial-worker/torch/datasets.h"

namespace tuner::worker::torchtrainer {
namespace {

DatasetConfig Config(const std::string& name, const std::string& path) {
  DatasetConfig c;
  c.name = name;
  c.path = path;
  c.val_fraction = 0.2;
  return c;
}

TEST(Datasets, Cifar10ReadsAllFiveBatchesAndTheTestBatch) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 6, 4);
  absl::StatusOr<ImageSet> train = LoadImageSet(Config("cifar10", dir.path()), false);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->images.sizes(), (std::vector<int64_t>{30, 3, 32, 32}));
  EXPECT_EQ(train->num_classes, 10);
  absl::StatusOr<ImageSet> test = LoadImageSet(Config("cifar10", dir.path()), true);
  ASSERT_TRUE(test.ok());
  EXPECT_EQ(test->size(), 4);
  // The first record's label byte and first red pixel.
  std::ifstream in(dir.File("data_batch_1.bin"), std::ios::binary);
  const int label = in.get(), red = in.get();
  EXPECT_EQ(train->labels[0].item<int64_t>(), label);
  EXPECT_EQ(train->images[0][0][0][0].item<uint8_t>(), red);
}

TEST(Datasets, Cifar100FineAndCoarseLabels) {
  testing::TempDir dir;
  testing::WriteTinyCifar100(dir.path(), 20, 5);
  DatasetConfig c = Config("cifar100", dir.path());
  absl::StatusOr<ImageSet> fine = LoadImageSet(c, false);
  c.label = "coarse";
  absl::StatusOr<ImageSet> coarse = LoadImageSet(c, false);
  ASSERT_TRUE(fine.ok() && coarse.ok());
  EXPECT_EQ(fine->num_classes, 100);
  EXPECT_EQ(coarse->num_classes, 20);
  EXPECT_TRUE(coarse->labels.equal(fine->labels.div(5, "floor")));
}

TEST(Datasets, IdxGzipIsGray28) {
  testing::TempDir dir;
  testing::WriteTinyIdx(dir.path(), 12, 3);
  absl::StatusOr<ImageSet> train = LoadImageSet(Config("fashion_mnist", dir.path()), false);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->images.sizes(), (std::vector<int64_t>{12, 1, 28, 28}));
}

TEST(Datasets, MissingDirectoryAndFilesAreNotFoundNamingThePath) {
  absl::StatusOr<ImageSet> set = LoadImageSet(Config("cifar10", "/no/such/dir"), false);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(set.status().message().find("/no/such/dir"), std::string::npos);
  testing::TempDir dir;
  set = LoadImageSet(Config("mnist", dir.path()), false);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(set.status().message().find("train-images-idx3-ubyte"), std::string::npos)
      << set.status();
}

TEST(Datasets, TruncatedCifarFileIsInvalidArgument) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 2, 1);
  std::ofstream(dir.File("data_batch_3.bin"), std::ios::binary) << "short";
  absl::StatusOr<ImageSet> set = LoadImageSet(Config("cifar10", dir.path()), false);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find("data_batch_3.bin"), std::string::npos);
}

TEST(Datasets, SplitIsDisjointSeededAndLimited) {
  testing::TempDir dir;
  testing::WriteTinyCifar10(dir.path(), 20, 1);
  DatasetConfig c = Config("cifar10", dir.path());
  absl::StatusOr<DatasetSplits> a = LoadSplits(c);
  absl::StatusOr<DatasetSplits> b = LoadSplits(c);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->val.size(), 20);
  EXPECT_EQ(a->train.size(), 80);
  EXPECT_TRUE(a->val.images.equal(b->val.images));
  c.split_seed = 9;
  c.limit_train = 10;
  c.limit_val = 5;
  absl::StatusOr<DatasetSplits> d = LoadSplits(c);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->train.size(), 10);
  EXPECT_EQ(d->val.size(), 5);
  EXPECT_FALSE(d->val.images.equal(a->val.images.slice(0, 0, 5)));
}

TEST(BatchTransform, GrayBecomesThreeNormalisedChannelsAtInputSize) {
  AugmentConfig none;
  BatchTransform transform(none, 32);
  std::mt19937_64 rng(1);
  torch::Tensor white = torch::full({2, 1, 28, 28}, 255, torch::kUInt8);
  torch::Tensor x = transform.Apply(white, false, rng);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_NEAR(x[0][0][5][5].item<float>(), (1 - 0.485) / 0.229, 1e-4);
  EXPECT_NEAR(x[0][2][5][5].item<float>(), (1 - 0.406) / 0.225, 1e-4);
}

TEST(BatchTransform, TheBackbonesPreprocessingCropsResizesAndNormalises) {
  // An 8x8 image whose centre 4x4 is white on black: center_crop 0.5 keeps exactly that.
  torch::Tensor image = torch::zeros({1, 3, 8, 8}, torch::kUInt8);
  image.slice(2, 2, 6).slice(3, 2, 6).fill_(255);
  PreprocessConfig p;
  p.mean = {0.5, 0.25, 0.0};
  p.std = {0.5, 0.25, 2.0};
  p.center_crop = 0.5;
  std::mt19937_64 rng(1);
  torch::Tensor x = BatchTransform(AugmentConfig{}, 4, p).Apply(image, false, rng);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
  EXPECT_TRUE(x[0][0].eq(1.0f).all().item<bool>()) << x;   // (1 - 0.5) / 0.5
  EXPECT_TRUE(x[0][1].eq(3.0f).all().item<bool>()) << x;   // (1 - 0.25) / 0.25
  EXPECT_TRUE(x[0][2].eq(0.5f).all().item<bool>()) << x;   // (1 - 0) / 2
  // Without the crop the black border stays in.
  p.center_crop = 1.0;
  x = BatchTransform(AugmentConfig{}, 8, p).Apply(image, false, rng);
  EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), -1.0f);
  // Bicubic and bilinear resizes differ (bicubic overshoots at the edges).
  torch::Tensor ramp = torch::arange(0, 256, 16).to(torch::kUInt8).view({1, 1, 4, 4}).repeat({1, 3, 1, 1});
  PreprocessConfig bilinear, bicubic;
  bicubic.interpolation = "bicubic";
  torch::Tensor a = BatchTransform(AugmentConfig{}, 9, bilinear).Apply(ramp, false, rng);
  torch::Tensor b = BatchTransform(AugmentConfig{}, 9, bicubic).Apply(ramp, false, rng);
  EXPECT_GT((a - b).abs().max().item<float>(), 1e-3);
  // The augmented path (one affine resample) takes the same interpolation and crop.
  AugmentConfig flip;
  flip.hflip = true;
  PreprocessConfig crop;
  crop.center_crop = 0.5;
  crop.mean = {0, 0, 0};
  crop.std = {1, 1, 1};
  x = BatchTransform(flip, 4, crop).Apply(image, true, rng);
  EXPECT_GT(x.min().item<float>(), 0.99f) << "the crop kept only the white centre";
}

TEST(BatchTransform, AugmentationIsSeededAndChangesImages) {
  AugmentConfig aug;
  aug.rotation = 15;
  aug.shift = 0.1;
  aug.hflip = true;
  aug.cutout = 8;
  BatchTransform transform(aug, 32);
  torch::Tensor images = torch::randint(0, 255, {4, 3, 32, 32}).to(torch::kUInt8);
  std::mt19937_64 r1(5), r2(5), r3(6);
  torch::Tensor a = transform.Apply(images, true, r1);
  torch::Tensor b = transform.Apply(images, true, r2);
  torch::Tensor c = transform.Apply(images, true, r3);
  torch::Tensor plain = transform.Apply(images, false, r3);
  EXPECT_TRUE(a.equal(b));
  EXPECT_FALSE(a.equal(c));
  EXPECT_FALSE(a.equal(plain));
}

TEST(BatchLoader, YieldsEveryIndexOnceInOrder) {
  ImageSet set;
  set.images = torch::zeros({10, 1, 8, 8}, torch::kUInt8);
  set.labels = torch::arange(10, torch::kInt64);
  BatchTransform transform(AugmentConfig{}, 8);
  torch::Tensor order = torch::tensor(std::vector<int64_t>{3, 1, 4, 0, 5, 9, 2, 6, 8, 7});
  BatchLoader loader(set, order, 4, transform, false, 0);
  std::vector<int64_t> seen;
  while (auto batch = loader.Next()) {
    for (int64_t i = 0; i < batch->labels.size(0); ++i) seen.push_back(batch->labels[i].item<int64_t>());
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{3, 1, 4, 0, 5, 9, 2, 6, 8, 7}));
}

}  // namespace
}  // namespace tuner::worker::torchtrainer
