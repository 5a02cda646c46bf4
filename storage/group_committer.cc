#include "storage/group_committer.h"

#include <chrono>
#include <future>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace tuner::storage {

GroupCommitter::GroupCommitter(std::unique_ptr<Database> db)
    : db_(std::move(db)), writer_([this] { Run(); }) {}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void GroupCommitter::Submit(std::vector<WriteOp> ops, Callback done, OnFailure on_failure) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Batch{std::move(ops), std::move(done), on_failure});
  }
  wake_.notify_one();
}

absl::Status GroupCommitter::Flush() {
  auto promise = std::make_shared<std::promise<absl::Status>>();
  auto future = promise->get_future();
  Submit({}, [promise](const absl::Status& status) { promise->set_value(status); });
  return future.get();
}

uint64_t GroupCommitter::transactions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return transactions_;
}

uint64_t GroupCommitter::pending_retries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_retries_;
}

std::vector<WriteOp> GroupCommitter::TEST_KeptWrites() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retry_;
}

namespace {

// The db is locked or the disk is full: conditions an operator fixes, after which the writes
// can land.
bool Transient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsResourceExhausted(status);
}

}  // namespace

uint64_t GroupCommitter::batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_;
}

void GroupCommitter::Run() {
  for (;;) {
    std::deque<Batch> work;
    std::vector<WriteOp> retry;  // writes that failed earlier go first: every later write of
                                 // the same row is newer
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (retry_.empty()) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      } else {
        wake_.wait_for(lock, std::chrono::seconds(1),
                       [this] { return stopping_ || !queue_.empty(); });
      }
      if (queue_.empty() && retry_.empty()) return;  // stopping and drained
      work.swap(queue_);
      retry.swap(retry_);
      stopping = stopping_;
    }
    std::vector<absl::Status> results(work.size());
    absl::Status retry_result;
    absl::Status begin = db_->Begin();
    if (begin.ok()) {
      const auto apply = [this](const std::vector<WriteOp>& ops) {
        absl::Status s = db_->Savepoint();
        for (const WriteOp& op : ops) {
          if (!s.ok()) break;
          s = db_->Write(op);
        }
        if (s.ok()) {
          s = db_->ReleaseSavepoint();
        } else {
          db_->RollbackToSavepoint().IgnoreError();
        }
        return s;
      };
      // Once a write fails for a transient reason, no newer write goes in before it lands:
      // re-applying the older one later would overwrite the newer row.
      absl::Status blocked;
      if (!retry.empty()) {
        retry_result = apply(retry);
        if (Transient(retry_result)) blocked = retry_result;
      }
      for (size_t i = 0; i < work.size(); ++i) {
        if (work[i].ops.empty()) continue;
        if (!blocked.ok()) {
          results[i] = blocked;
          continue;
        }
        results[i] = apply(work[i].ops);
        if (Transient(results[i])) blocked = results[i];
      }
      absl::Status commit = db_->Commit();
      if (!commit.ok()) {
        db_->Rollback().IgnoreError();
        if (retry_result.ok()) retry_result = commit;
        for (auto& r : results) {
          if (r.ok()) r = absl::Status(commit.code(), absl::StrCat("commit: ", commit.message()));
        }
      }
    } else {
      retry_result = begin;
      for (auto& r : results) r = begin;
    }
    // Keep what failed for a reason an operator can fix, in order; a write refused for any
    // other reason (a bug, corruption) is dropped with its error.
    std::vector<WriteOp> keep;
    if (!retry.empty()) {
      if (Transient(retry_result)) {
        keep = std::move(retry);
      } else if (!retry_result.ok()) {
        spdlog::error("db: dropping {} writes that failed again: {}", retry.size(),
                      retry_result.ToString());
      } else {
        spdlog::info("db: {} delayed writes landed", retry.size());
      }
    }
    for (size_t i = 0; i < work.size(); ++i) {
      if (Transient(results[i]) && work[i].on_failure == OnFailure::kRetry) {
        if (keep.empty()) {
          spdlog::warn("db: {}; keeping the writes to re-apply when it clears", results[i].ToString());
        }
        keep.insert(keep.end(), work[i].ops.begin(), work[i].ops.end());
      }
    }
    if (stopping && !keep.empty()) {  // one last try at shutdown, then give up
      spdlog::error("db: shutting down with {} writes that could not be stored", keep.size());
      keep.clear();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++transactions_;
      batches_ += work.size();
      retry_ = std::move(keep);
      pending_retries_ = retry_.size();
    }
    for (size_t i = 0; i < work.size(); ++i) {
      if (work[i].done) work[i].done(results[i]);
    }
  }
}

}  // namespace tuner::storage
