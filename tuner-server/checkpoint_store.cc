#include "tuner-server/checkpoint_store.h"

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"

namespace tuner::server {

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& dir,
                                                                       int64_t max_bytes) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create checkpoint directory ", dir, ": ", error.message()));
  }
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(dir, max_bytes));
}

CheckpointStore::CheckpointStore(std::string dir, int64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes), rng_(std::random_device{}()) {}

std::string CheckpointStore::NewId() {
  static const char kHex[] = "0123456789abcdef";
  std::lock_guard<std::mutex> lock(mu_);
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

}  // namespace tuner::server
