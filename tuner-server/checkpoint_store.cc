#include "tuner-server/checkpoint_store.h"

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace tuner::server {

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& dir,
                                                                       int64_t max_bytes,
                                                                       int64_t disk_budget) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create checkpoint directory ", dir, ": ", error.message()));
  }
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(dir, max_bytes, disk_budget));
}

CheckpointStore::CheckpointStore(std::string dir, int64_t max_bytes, int64_t disk_budget)
    : dir_(std::move(dir)),
      max_bytes_(max_bytes),
      disk_budget_(disk_budget),
      rng_(std::random_device{}()) {}

std::string CheckpointStore::NewId() {
  static const char kHex[] = "0123456789abcdef";
  absl::MutexLock lock(&mu_);
  std::string id;
  for (int word = 0; word < 2; ++word) {
    uint64_t bits = rng_();
    for (int i = 0; i < 16; ++i, bits >>= 4) id.push_back(kHex[bits & 0xf]);
  }
  return id;
}

absl::StatusOr<std::string> CheckpointStore::PathFor(const std::string& id) const {
  bool valid = id.size() == 32;
  for (char c : id) valid = valid && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!valid) {
    return absl::InvalidArgumentError("checkpoint_id: must be 32 lower-case hex characters");
  }
  return dir_ + "/" + id + ".ckpt";
}

absl::Status CheckpointStore::Reserve(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  if (bytes > disk_budget_ - used_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "checkpoint of ", bytes, " bytes refused: the server's checkpoints would pass its disk "
        "budget of ", disk_budget_, " bytes (--checkpoint-disk-budget; ", used_bytes_,
        " bytes in use)"));
  }
  used_bytes_ += bytes;
  return absl::OkStatus();
}

void CheckpointStore::Release(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  used_bytes_ = std::max<int64_t>(0, used_bytes_ - bytes);
}

int64_t CheckpointStore::used_bytes() {
  absl::MutexLock lock(&mu_);
  return used_bytes_;
}

void CheckpointStore::Remove(const std::string& id, int64_t size_bytes) {
  absl::StatusOr<std::string> path = PathFor(id);
  if (path.ok()) {
    std::error_code error;
    std::filesystem::remove(*path, error);
    if (error) spdlog::warn("checkpoint {}: cannot remove {}: {}", id, *path, error.message());
  }
  Release(size_bytes);
}

int CheckpointStore::RemoveUnrecorded(const std::set<std::string>& recorded_ids,
                                      int64_t recorded_bytes) {
  {
    absl::MutexLock lock(&mu_);
    used_bytes_ = recorded_bytes;
  }
  int removed = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = ".ckpt";
    const bool recorded = name.size() > suffix.size() &&
                          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                          recorded_ids.count(name.substr(0, name.size() - suffix.size()));
    if (recorded || !entry.is_regular_file()) continue;
    std::error_code remove_error;
    if (std::filesystem::remove(entry.path(), remove_error)) ++removed;
  }
  if (error) spdlog::warn("cannot list checkpoint directory {}: {}", dir_, error.message());
  return removed;
}

}  // namespace tuner::server
