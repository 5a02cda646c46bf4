#include "trial-worker/torch/feature_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace tuner::worker::torchtrainer {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'T', 'U', 'N', 'E', 'R', 'F', 'C', '1'};

// Holds an exclusive flock on a file for its lifetime.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

FeatureCache::FeatureCache(std::string dir, int64_t max_bytes)
    : dir_((fs::path(dir) / "torch-features").string()), max_bytes_(max_bytes) {}

absl::StatusOr<FeatureSet> FeatureCache::GetOrCompute(
    const std::string& key, const std::function<absl::StatusOr<FeatureSet>()>& compute,
    bool* hit) {
  if (hit) *hit = false;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("feature cache: cannot create ", dir_, ": ", ec.message()));
  }
  const std::string hash = Sha256Hex(key);
  const std::string path = (fs::path(dir_) / (hash + ".feat")).string();
  FileLock lock((fs::path(dir_) / (hash + ".lock")).string());
  if (fs::exists(path)) {
    absl::StatusOr<FeatureSet> cached = Read(path);
    if (cached.ok()) {
      if (hit) *hit = true;
      fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // recently used
      return cached;
    }
    fs::remove(path, ec);  // unreadable (an older format, a disk error): recompute
  }
  absl::StatusOr<FeatureSet> computed = compute();
  if (!computed.ok()) return computed.status();
  if (absl::Status s = Write(path, *computed); !s.ok()) return s;
  Evict();
  return computed;
}

absl::StatusOr<FeatureSet> FeatureCache::Read(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("feature cache: cannot open ", path));
  char magic[8];
  int64_t header[2];
  FeatureSet set;
  bool ok = std::fread(magic, 1, 8, f) == 8 && std::memcmp(magic, kMagic, 8) == 0 &&
            std::fread(header, sizeof(int64_t), 2, f) == 2 && header[0] >= 0 && header[1] > 0;
  if (ok) {
    set.features = torch::empty({header[0], header[1]}, torch::kFloat);
    set.labels = torch::empty({header[0]}, torch::kInt64);
    ok = std::fread(set.features.data_ptr<float>(), sizeof(float), set.features.numel(), f) ==
             static_cast<size_t>(set.features.numel()) &&
         std::fread(set.labels.data_ptr<int64_t>(), sizeof(int64_t), header[0], f) ==
             static_cast<size_t>(header[0]);
  }
  std::fclose(f);
  if (!ok) return absl::DataLossError(absl::StrCat("feature cache: ", path, " is corrupt"));
  return set;
}

absl::Status FeatureCache::Write(const std::string& path, const FeatureSet& set) {
  std::random_device entropy;
  const std::string temp =
      absl::StrCat(path, ".tmp-", ::getpid(), "-", static_cast<uint32_t>(entropy()));
  torch::Tensor features = set.features.to(torch::kCPU, torch::kFloat).contiguous();
  torch::Tensor labels = set.labels.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t header[2] = {features.size(0), features.size(1)};
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("feature cache: cannot write ", temp));
  }
  bool ok = std::fwrite(kMagic, 1, 8, f) == 8 && std::fwrite(header, sizeof(int64_t), 2, f) == 2 &&
            std::fwrite(features.data_ptr<float>(), sizeof(float), features.numel(), f) ==
                static_cast<size_t>(features.numel()) &&
            std::fwrite(labels.data_ptr<int64_t>(), sizeof(int64_t), labels.numel(), f) ==
                static_cast<size_t>(labels.numel());
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::FailedPreconditionError(
        absl::StrCat("feature cache: cannot write ", path, " (disk full?)"));
  }
  return absl::OkStatus();
}

void FeatureCache::Evict() {
  struct Entry {
    fs::path path;
    fs::file_time_type time;
    int64_t size;
  };
  std::vector<Entry> entries;
  int64_t total = 0;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(dir_, ec)) {
    if (item.path().extension() != ".feat") continue;
    Entry e{item.path(), item.last_write_time(ec), static_cast<int64_t>(item.file_size(ec))};
    if (ec) continue;
    total += e.size;
    entries.push_back(e);
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.time < b.time; });
  for (const Entry& e : entries) {
    if (total <= max_bytes_) break;
    if (fs::remove(e.path, ec)) total -= e.size;
  }
}

}  // namespace tuner::worker::torchtrainer
