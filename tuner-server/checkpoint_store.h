// CheckpointStore: checkpoint files kept by the server in a directory next to its db. Ids are
// 32 random hex characters; nothing else maps to a path, so an id cannot escape the directory.
#ifndef TUNER_TUNER_SERVER_CHECKPOINT_STORE_H_
#define TUNER_TUNER_SERVER_CHECKPOINT_STORE_H_

#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tuner::server {

// Thread-safe.
class CheckpointStore {
 public:
  // dir is created when missing.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(const std::string& dir,
                                                               int64_t max_bytes);
  std::string NewId();
  // INVALID_ARGUMENT unless id is one this store could have made.
  absl::StatusOr<std::string> PathFor(const std::string& id) const;
  int64_t max_bytes() const { return max_bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  CheckpointStore(std::string dir, int64_t max_bytes);

  const std::string dir_;
  const int64_t max_bytes_;
  std::mutex mu_;
  std::mt19937_64 rng_;  // guarded by mu_
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_CHECKPOINT_STORE_H_
