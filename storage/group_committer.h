// GroupCommitter: the single writer of the db. Callers submit batches of row writes with a
// callback; a writer thread takes every batch queued so far, applies them in submission order
// inside ONE transaction (each batch in its own savepoint so a bad batch fails alone), commits
// with one fsync, then runs the callbacks. Under load many RPCs share one fsync (group commit);
// alone, a batch is committed at once. A callback runs only after its batch is durable, so an
// RPC answered from it is never lost on kill -9.
//
// A batch that fails because the db is locked or the disk is full (UNAVAILABLE,
// RESOURCE_EXHAUSTED) gets that error (and so does every later batch of the same transaction,
// which is not applied), and its writes are also kept and re-applied, before any newer write,
// at the next transaction (and about once a second while nothing else comes), so
// the db catches up with what the server holds in memory once the operator frees the disk or
// the lock. Rows are whole-row upserts, so re-applying them in order is safe. A batch submitted
// with kDrop is not kept: its caller applies the change in memory only once it committed (or
// undoes it), so a refused call leaves nothing behind, not even later.
//
// Thread-safe: Submit may be called from any thread; callbacks run on the writer thread and
// must not block.
#ifndef TUNER_STORAGE_GROUP_COMMITTER_H_
#define TUNER_STORAGE_GROUP_COMMITTER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "storage/database.h"

namespace tuner::storage {

class GroupCommitter {
 public:
  using Callback = std::function<void(const absl::Status&)>;
  // What becomes of a batch's writes when they fail for a transient reason.
  enum class OnFailure {
    kRetry,  // kept and re-applied (the caller keeps the change in memory)
    kDrop,   // dropped (the caller applies the change only after it committed, or undoes it)
  };

  // Takes ownership of db; starts the writer thread.
  explicit GroupCommitter(std::unique_ptr<Database> db);
  // Drains what is queued, then stops the writer thread.
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues a batch. done (may be empty) gets OK once durable, or the error.
  void Submit(std::vector<WriteOp> ops, Callback done, OnFailure on_failure = OnFailure::kRetry);

  // Blocks until everything submitted before the call is committed; returns the first error
  // among those batches. For start-up, shutdown and tests.
  absl::Status Flush();

  // Statistics, for logs and benchmarks.
  uint64_t transactions() const;
  uint64_t batches() const;
  // Writes of failed batches waiting to be re-applied (0 when the db is in step).
  uint64_t pending_retries() const;
  // The writes kept to be re-applied, oldest first (tests: what a refused call left behind).
  std::vector<WriteOp> TEST_KeptWrites() const;

 private:
  struct Batch {
    std::vector<WriteOp> ops;
    Callback done;
    OnFailure on_failure = OnFailure::kRetry;
  };
  void Run();

  std::unique_ptr<Database> db_;  // used by the writer thread only

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Batch> queue_;       // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  uint64_t pending_retries_ = 0;  // guarded by mu_
  std::vector<WriteOp> retry_;    // guarded by mu_: failed writes to re-apply first
  uint64_t transactions_ = 0;     // guarded by mu_
  uint64_t batches_ = 0;          // guarded by mu_

  std::thread writer_;
};

}  // namespace tuner::storage

#endif  // TUNER_STORAGE_GROUP_COMMITTER_H_
