#include "storage/group_committer.h"

#include <future>

#include "absl/strings/str_cat.h"

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

void GroupCommitter::Submit(std::vector<WriteOp> ops, Callback done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Batch{std::move(ops), std::move(done)});
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

uint64_t GroupCommitter::batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_;
}

void GroupCommitter::Run() {
  for (;;) {
    std::deque<Batch> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      work.swap(queue_);
    }
    std::vector<absl::Status> results(work.size());
    absl::Status begin = db_->Begin();
    if (begin.ok()) {
      for (size_t i = 0; i < work.size(); ++i) {
        if (work[i].ops.empty()) continue;
        absl::Status s = db_->Savepoint();
        for (const WriteOp& op : work[i].ops) {
          if (!s.ok()) break;
          s = db_->Write(op);
        }
        if (s.ok()) {
          s = db_->ReleaseSavepoint();
        } else {
          db_->RollbackToSavepoint().IgnoreError();
        }
        results[i] = s;
      }
      absl::Status commit = db_->Commit();
      if (!commit.ok()) {
        db_->Rollback().IgnoreError();
        for (auto& r : results) {
          if (r.ok()) r = absl::Status(commit.code(), absl::StrCat("commit: ", commit.message()));
        }
      }
    } else {
      for (auto& r : results) r = begin;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++transactions_;
      batches_ += work.size();
    }
    for (size_t i = 0; i < work.size(); ++i) {
      if (work[i].done) work[i].done(results[i]);
    }
  }
}

}  // namespace tuner::storage
