// CheckpointStore: checkpoint files kept by the server in a directory next to its db. Ids are
// 32 random hex characters; nothing else maps to a path, so an id cannot escape the directory.
// It also keeps the disk budget: the bytes of every stored checkpoint plus those reserved by
// uploads in flight never exceed disk_budget (--checkpoint-disk-budget).
#ifndef TUNER_TUNER_SERVER_CHECKPOINT_STORE_H_
#define TUNER_TUNER_SERVER_CHECKPOINT_STORE_H_

#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tuner::server {

// Defaults of the server's flags (docs/security.md, Limits, lists them).
inline constexpr int64_t kDefaultMaxCheckpointBytes = int64_t{2} << 30;       // 2 GiB an upload
inline constexpr int64_t kDefaultCheckpointDiskBudget = int64_t{100} << 30;   // 100 GiB in all
inline constexpr int kDefaultCheckpointsPerTrial = 2;

// Thread-safe.
class CheckpointStore {
 public:
  // dir is created when missing. max_bytes bounds one upload, disk_budget all of them together.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(
      const std::string& dir, int64_t max_bytes,
      int64_t disk_budget = kDefaultCheckpointDiskBudget);
  std::string NewId();
  // INVALID_ARGUMENT unless id is one this store could have made.
  absl::StatusOr<std::string> PathFor(const std::string& id) const;
  int64_t max_bytes() const { return max_bytes_; }
  int64_t disk_budget() const { return disk_budget_; }
  const std::string& dir() const { return dir_; }

  // An upload about to write `bytes`: RESOURCE_EXHAUSTED naming the budget when the stored
  // checkpoints plus the uploads in flight would pass it. A reservation stays counted while
  // the checkpoint exists; Release gives it back (an upload that failed, a removed checkpoint).
  absl::Status Reserve(int64_t bytes);
  void Release(int64_t bytes);
  int64_t used_bytes();

  // Removes a checkpoint's file (its row is already gone) and releases its bytes.
  void Remove(const std::string& id, int64_t size_bytes);
  // At start-up, once the db's checkpoints are known (ids with their sizes are counted against
  // the budget): removes every other file in the directory: temp files of uploads cut by a
  // crash, files whose row was deleted just before one. Returns how many it removed.
  int RemoveUnrecorded(const std::set<std::string>& recorded_ids, int64_t recorded_bytes);

 private:
  CheckpointStore(std::string dir, int64_t max_bytes, int64_t disk_budget);

  // Constant after construction.
  const std::string dir_;
  const int64_t max_bytes_;
  const int64_t disk_budget_;

  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  int64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_CHECKPOINT_STORE_H_
