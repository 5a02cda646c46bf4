#include "storage/group_committer.h"

#include <atomic>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "sqlite3.h"
#include "tests/testing/temp_dir.h"

namespace tuner::storage {
namespace {

StudyRow Study(int64_t id) {
  StudyRow row;
  row.id = id;
  row.name = "s";
  row.spec_yaml = "name: s";
  row.state = "STUDY_RUNNING";
  return row;
}

TrialRow Trial(int64_t id, int64_t study_id) {
  TrialRow row;
  row.id = id;
  row.study_id = study_id;
  row.number = id;
  row.params_json = "{}";
  row.state = "PENDING";
  return row;
}

TEST(GroupCommitter, ConcurrentSubmittersShareTransactions) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  {
    GroupCommitter committer(std::move(*db));
    ASSERT_TRUE(committer.Flush().ok());
    committer.Submit({Study(1)}, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          committer.Submit({Trial(1 + t * kPerThread + i, 1)}, [&](const absl::Status& s) {
            (s.ok() ? ok : failed)++;
          });
        }
      });
    }
    for (auto& thread : threads) thread.join();
    ASSERT_TRUE(committer.Flush().ok());
    EXPECT_EQ(ok.load(), kThreads * kPerThread);
    EXPECT_EQ(failed.load(), 0);
    // Group commit: far fewer transactions than batches.
    EXPECT_LT(committer.transactions(), committer.batches());
  }
  auto reopened = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(reopened.ok());
  auto snapshot = (*reopened)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->trials.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(GroupCommitter, BadBatchFailsAloneAndOthersLand) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  absl::Status bad_status, good_status;
  {
    GroupCommitter committer(std::move(*db));
    committer.Submit({Study(1)}, nullptr);
    // Trial 2's study does not exist: its batch (with trial 3) must roll back as one.
    committer.Submit({Trial(3, 1), Trial(2, 42)},
                     [&](const absl::Status& s) { bad_status = s; });
    committer.Submit({Trial(4, 1)}, [&](const absl::Status& s) { good_status = s; });
    ASSERT_TRUE(committer.Flush().ok());
  }
  EXPECT_FALSE(bad_status.ok());
  EXPECT_TRUE(good_status.ok()) << good_status;
  auto reopened = Database::Open(dir.File("t.db"));
  auto snapshot = (*reopened)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->trials.size(), 1u);
  EXPECT_EQ(snapshot->trials[0].id, 4);
}

TEST(GroupCommitter, LockedDbFailsTheBatchAndItsWritesLandOnceFreed) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"), /*busy_timeout_ms=*/50);
  ASSERT_TRUE(db.ok());
  // Another process holds the write lock.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("t.db").c_str(), &other), SQLITE_OK);
  GroupCommitter committer(std::move(*db));
  ASSERT_TRUE(committer.Flush().ok());
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::promise<absl::Status> first;
  committer.Submit({Study(1), Trial(1, 1)}, [&](const absl::Status& s) { first.set_value(s); });
  absl::Status status = first.get_future().get();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_NE(status.message().find("locked"), std::string::npos) << status;
  EXPECT_GT(committer.pending_retries(), 0u);
  // Freed: the failed writes land before the next batch, whose trial needs study 1.
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  std::promise<absl::Status> second;
  committer.Submit({Trial(2, 1)}, [&](const absl::Status& s) { second.set_value(s); });
  EXPECT_TRUE(second.get_future().get().ok());
  EXPECT_EQ(committer.pending_retries(), 0u);
  sqlite3_close(other);
  auto reopened = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(reopened.ok());
  auto snapshot = (*reopened)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->studies.size(), 1u);
  EXPECT_EQ(snapshot->trials.size(), 2u);
}

// Issue 13 row 5: a batch whose caller keeps nothing of it in memory (CreateStudy) is not
// stored once the db frees: a refused call must not take effect later.
TEST(GroupCommitter, DroppedBatchIsNotStoredWhenTheLockFrees) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"), /*busy_timeout_ms=*/50);
  ASSERT_TRUE(db.ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("t.db").c_str(), &other), SQLITE_OK);
  GroupCommitter committer(std::move(*db));
  ASSERT_TRUE(committer.Flush().ok());
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::promise<absl::Status> first;
  committer.Submit({Study(1)}, [&](const absl::Status& s) { first.set_value(s); },
                   GroupCommitter::OnFailure::kDrop);
  EXPECT_TRUE(absl::IsUnavailable(first.get_future().get()));
  EXPECT_EQ(committer.pending_retries(), 0u);
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  std::promise<absl::Status> second;
  committer.Submit({Study(2)}, [&](const absl::Status& s) { second.set_value(s); });
  EXPECT_TRUE(second.get_future().get().ok());
  auto reopened = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(reopened.ok());
  auto snapshot = (*reopened)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->studies.size(), 1u);
  EXPECT_EQ(snapshot->studies[0].id, 2);
}

TEST(GroupCommitter, DestructorDrainsTheQueue) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  int callbacks = 0;
  {
    GroupCommitter committer(std::move(*db));
    committer.Submit({Study(1)}, [&](const absl::Status&) { ++callbacks; });
    for (int i = 1; i <= 50; ++i) {
      committer.Submit({Trial(i, 1)}, [&](const absl::Status&) { ++callbacks; });
    }
  }
  EXPECT_EQ(callbacks, 51);
}

}  // namespace
}  // namespace tuner::storage
