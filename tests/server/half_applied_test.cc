// Issue 13 row 5: nothing half-applied. A call whose commit fails changes nothing, in memory or
// in the db (now or after the writes held back by the GroupCommitter land); a retried
// CreateStudy with the same request_id returns the study the first call created, also after
// a restart. The storage failure is another connection holding the db's write lock (the
// writer's busy timeout is 50 ms), which the committer answers UNAVAILABLE as it answers a
// full disk RESOURCE_EXHAUSTED: both are the "transient" failures it used to keep and store
// later.
#include <string>

#include "gtest/gtest.h"
#include "tests/server/db_server.h"
#include "tests/server/specs.h"
#include "tests/testing/temp_dir.h"

namespace tuner::testing {
namespace {

TEST(HalfApplied, RefusedCreateStudyLeavesNoStudyInMemoryOrInTheDb) {
  TempDir dir;
  Server server(dir.File("t.db"));
  {
    WriteLock lock(dir.File("t.db"));
    auto created = server.CreateStudy(RandomSpec(4));
    EXPECT_TRUE(absl::IsUnavailable(created.status())) << created.status();
    EXPECT_TRUE(server.Studies().empty());
  }
  // The lock is gone: the next commit is where held-back writes used to land.
  server.RegisterWorker("w1");
  ASSERT_TRUE(server.committer().Flush().ok());
  EXPECT_TRUE(server.Studies().empty());
  server.Restart();
  EXPECT_TRUE(server.Studies().empty());
  // The next study is the first one.
  auto created = server.CreateStudy(RandomSpec(4));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(server.Studies().size(), 1u);
}

TEST(HalfApplied, FailedAcquireTrialCommitLeavesTheTrialPendingAndLeasable) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto created = server.CreateStudy(RandomSpec(1, 3, 0, /*max_attempts=*/1));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t worker = server.RegisterWorker("w1");
  {
    WriteLock lock(dir.File("t.db"));
    v1::AcquireTrialResponse refused;
    absl::Status status = server.Acquire(worker, &refused);
    EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  }
  ASSERT_TRUE(server.committer().Flush().ok());
  std::vector<v1::Trial> trials = server.Trials(created->study_id());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::PENDING);
  // The only trial (max_trials 1, max_attempts 1) goes to the next call, as its first attempt.
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(server.Acquire(worker, &leased).ok());
  ASSERT_TRUE(leased.has_trial());
  EXPECT_EQ(leased.lease().trial_id(), trials[0].trial_id());
  EXPECT_EQ(leased.lease().attempt(), 1);
  server.Restart();
  trials = server.Trials(created->study_id());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::RUNNING);
  EXPECT_EQ(trials[0].attempt(), 1);
}

TEST(RequestId, ARetriedCreateStudyReturnsTheSameStudyAlsoAfterARestart) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto first = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(first.ok()) << first.status();
  auto retry = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->study_id(), first->study_id());
  EXPECT_EQ(retry->study().study_id(), first->study_id());
  // Another request_id, or none, is another study.
  auto other = server.CreateStudy(RandomSpec(4), "start-study-2");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->study_id(), first->study_id());
  EXPECT_EQ(server.Studies().size(), 2u);
  server.Restart();
  retry = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->study_id(), first->study_id());
  EXPECT_EQ(server.Studies().size(), 2u);
}

TEST(RequestId, ADifferentSpecWithTheSameRequestIdIsRefusedNamingIt) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto first = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(first.ok()) << first.status();
  auto refused = server.CreateStudy(RandomSpec(5), "start-study-1");
  EXPECT_TRUE(absl::IsAlreadyExists(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("request_id"), std::string::npos);
  EXPECT_EQ(server.Studies().size(), 1u);
  server.Restart();
  refused = server.CreateStudy(RandomSpec(5), "start-study-1");
  EXPECT_TRUE(absl::IsAlreadyExists(refused.status())) << refused.status();
  EXPECT_EQ(server.Studies().size(), 1u);
}

TEST(RequestId, ARetryAfterARefusedCommitCreatesTheStudyOnce) {
  TempDir dir;
  Server server(dir.File("t.db"));
  {
    WriteLock lock(dir.File("t.db"));
    auto refused = server.CreateStudy(RandomSpec(4), "start-study-1");
    EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  }
  auto created = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(created.ok()) << created.status();
  auto again = server.CreateStudy(RandomSpec(4), "start-study-1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->study_id(), created->study_id());
  server.Restart();
  EXPECT_EQ(server.Studies().size(), 1u);
}

TEST(RequestId, ARequestIdOver128BytesIsInvalidArgument) {
  TempDir dir;
  Server server(dir.File("t.db"));
  auto refused = server.CreateStudy(RandomSpec(4), std::string(129, 'k'));
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("request_id"), std::string::npos);
  EXPECT_TRUE(server.Studies().empty());
}

}  // namespace
}  // namespace tuner::testing
