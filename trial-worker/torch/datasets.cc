#include "trial-worker/torch/datasets.h"

#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tuner::worker::torchtrainer {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kCifarPixels = 3 * 32 * 32;

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("dataset file ", path, " not found"));
  std::string data(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read dataset file ", path));
  return data;
}

// gzread reads gzip and, transparently, uncompressed files.
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("dataset file ", path, " not found"));
  std::string data;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) data.append(buffer, n);
  int error = Z_OK;
  const char* message = gzerror(file, &error);
  const std::string why = message ? message : "";
  gzclose(file);
  if (n < 0 || (error != Z_OK && error != Z_STREAM_END)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset file ", path, ": corrupt gzip stream (", why, ")"));
  }
  return data;
}

// The first of `dirs` that holds `file`; else `dirs[0]`.
std::string Locate(const std::vector<std::string>& dirs, const std::string& file) {
  for (const std::string& dir : dirs) {
    if (fs::exists(fs::path(dir) / file)) return (fs::path(dir) / file).string();
  }
  return (fs::path(dirs[0]) / file).string();
}

// CIFAR records: label byte(s) then 3072 pixel bytes (R, G, B planes of 32x32).
absl::Status AppendCifar(const std::string& path, int label_bytes, int label_index,
                         std::vector<uint8_t>* pixels, std::vector<int64_t>* labels) {
  absl::StatusOr<std::string> data = ReadWholeFile(path);
  if (!data.ok()) return data.status();
  const size_t record = label_bytes + kCifarPixels;
  if (data->empty() || data->size() % record != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset file ", path, ": ", data->size(), " bytes is not a whole number of ", record,
        "-byte CIFAR records"));
  }
  const size_t n = data->size() / record;
  for (size_t i = 0; i < n; ++i) {
    const auto* r = reinterpret_cast<const uint8_t*>(data->data()) + i * record;
    labels->push_back(r[label_index]);
    pixels->insert(pixels->end(), r + label_bytes, r + record);
  }
  return absl::OkStatus();
}

uint32_t BigEndian32(const std::string& data, size_t offset) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

absl::StatusOr<std::string> ReadIdx(const std::string& dir, const std::string& name) {
  const std::string gz = (fs::path(dir) / (name + ".gz")).string();
  const std::string raw = (fs::path(dir) / name).string();
  if (fs::exists(gz)) return ReadMaybeGzip(gz);
  if (fs::exists(raw)) return ReadMaybeGzip(raw);
  return absl::NotFoundError(
      absl::StrCat("dataset file ", gz, " not found (nor ", raw, ")"));
}

absl::StatusOr<ImageSet> LoadIdx(const DatasetConfig& config, bool test_set) {
  const std::string prefix = test_set ? "t10k" : "train";
  absl::StatusOr<std::string> images = ReadIdx(config.path, prefix + "-images-idx3-ubyte");
  if (!images.ok()) return images.status();
  absl::StatusOr<std::string> labels = ReadIdx(config.path, prefix + "-labels-idx1-ubyte");
  if (!labels.ok()) return labels.status();
  const std::string where = (fs::path(config.path) / (prefix + "-*-idx?-ubyte")).string();
  if (images->size() < 16 || BigEndian32(*images, 0) != 0x803 || labels->size() < 8 ||
      BigEndian32(*labels, 0) != 0x801) {
    return absl::InvalidArgumentError(absl::StrCat("dataset files ", where,
                                                   ": not IDX image / label files (bad magic)"));
  }
  const int64_t n = BigEndian32(*images, 4);
  const int64_t h = BigEndian32(*images, 8);
  const int64_t w = BigEndian32(*images, 12);
  if (n <= 0 || h <= 0 || w <= 0 || images->size() != static_cast<size_t>(16 + n * h * w) ||
      BigEndian32(*labels, 4) != n || labels->size() != static_cast<size_t>(8 + n)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset files ", where, ": sizes do not match their headers (truncated?)"));
  }
  ImageSet set;
  set.num_classes = 10;
  set.images = torch::empty({n, 1, h, w}, torch::kUInt8);
  std::memcpy(set.images.data_ptr(), images->data() + 16, static_cast<size_t>(n * h * w));
  set.labels = torch::empty({n}, torch::kInt64);
  auto* out = set.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<uint8_t>((*labels)[8 + i]);
    if (out[i] >= 10) {
      return absl::InvalidArgumentError(absl::StrCat("dataset files ", where, ": label ",
                                                     out[i], " out of range"));
    }
  }
  return set;
}

absl::StatusOr<ImageSet> LoadCifar(const DatasetConfig& config, bool test_set) {
  const bool cifar100 = config.name == "cifar100";
  const std::vector<std::string> dirs = {
      config.path,
      (fs::path(config.path) / (cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin")).string()};
  std::vector<std::string> files;
  if (cifar100) {
    files.push_back(test_set ? "test.bin" : "train.bin");
  } else if (test_set) {
    files.push_back("test_batch.bin");
  } else {
    for (int i = 1; i <= 5; ++i) files.push_back(absl::StrCat("data_batch_", i, ".bin"));
  }
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& file : files) {
    const int label_bytes = cifar100 ? 2 : 1;
    const int label_index = cifar100 && config.label == "fine" ? 1 : 0;
    if (auto s = AppendCifar(Locate(dirs, file), label_bytes, label_index, &pixels, &labels);
        !s.ok()) {
      return s;
    }
  }
  ImageSet set;
  set.num_classes = cifar100 ? (config.label == "fine" ? 100 : 20) : 10;
  const int64_t n = static_cast<int64_t>(labels.size());
  for (int64_t label : labels) {
    if (label >= set.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("dataset ", config.path, ": label ", label,
                                                     " out of range for ", config.name));
    }
  }
  set.images = torch::from_blob(pixels.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
  set.labels = torch::from_blob(labels.data(), {n}, torch::kInt64).clone();
  return set;
}

}  // namespace

absl::StatusOr<ImageSet> LoadImageSet(const DatasetConfig& config, bool test_set) {
  if (!fs::is_directory(config.path)) {
    return absl::NotFoundError(
        absl::StrCat("trainer.dataset.path: directory ", config.path, " not found"));
  }
  if (config.name == "cifar10" || config.name == "cifar100") return LoadCifar(config, test_set);
  if (config.name == "fashion_mnist" || config.name == "mnist") return LoadIdx(config, test_set);
  return absl::InvalidArgumentError(absl::StrCat("trainer.dataset.name: unknown dataset \"",
                                                 config.name,
                                                 "\" (allowed: cifar10, cifar100, fashion_mnist, mnist)"));
}

ImageSet Subset(const ImageSet& set, const torch::Tensor& indices) {
  ImageSet out;
  out.images = set.images.index_select(0, indices).contiguous();
  out.labels = set.labels.index_select(0, indices).contiguous();
  out.num_classes = set.num_classes;
  return out;
}

absl::StatusOr<DatasetSplits> LoadSplits(const DatasetConfig& config) {
  absl::StatusOr<ImageSet> all = LoadImageSet(config, /*test_set=*/false);
  if (!all.ok()) return all.status();
  const int64_t n = all->size();
  if (n < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer.dataset.path: ", config.path, " holds ", n, " training images; need >= 2"));
  }
  // Fisher-Yates with a fixed generator: the split must not depend on the torch version.
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(config.split_seed);
  for (int64_t i = n - 1; i > 0; --i) {
    std::uniform_int_distribution<int64_t> pick(0, i);
    std::swap(order[i], order[pick(rng)]);
  }
  int64_t n_val = std::llround(static_cast<double>(n) * config.val_fraction);
  n_val = std::clamp<int64_t>(n_val, 1, n - 1);
  const int64_t n_train = n - n_val;
  const int64_t keep_val = config.limit_val > 0 ? std::min(config.limit_val, n_val) : n_val;
  const int64_t keep_train =
      config.limit_train > 0 ? std::min(config.limit_train, n_train) : n_train;
  torch::Tensor idx = torch::from_blob(order.data(), {n}, torch::kInt64);
  DatasetSplits splits;
  splits.val = Subset(*all, idx.slice(0, 0, keep_val));
  splits.train = Subset(*all, idx.slice(0, n_val, n_val + keep_train));
  return splits;
}

}  // namespace tuner::worker::torchtrainer
