// LeaseTable on plain data, without a server or a clock: the one lease machinery of trials and
// ensemble jobs (grant, check, renew, expiry, retries, release, restore after a restart).
#include "tuner-server/lease_table.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tuner::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr LeaseKey kTrial{LeaseKind::kTrial, 7};
constexpr LeaseKey kEnsemble{LeaseKind::kEnsemble, 7};

class LeaseTableTest : public ::testing::Test {
 protected:
  LeaseTable table_{30, [this]() -> absl::StatusOr<std::string> {
                      if (fail_tokens_) return absl::InternalError("no randomness");
                      return "token-" + std::to_string(++tokens_);
                    }};
  int tokens_ = 0;
  bool fail_tokens_ = false;
};

TEST_F(LeaseTableTest, AGrantNamesItsKindIdAttemptHolderAndToken) {
  table_.Add(kTrial);
  table_.Add(kEnsemble);
  absl::StatusOr<v1::Lease> trial = table_.Grant(kTrial, 3, 100);
  ASSERT_TRUE(trial.ok());
  EXPECT_EQ(trial->trial_id(), 7);
  EXPECT_EQ(trial->ensemble_id(), 0);
  EXPECT_EQ(trial->attempt(), 1);
  EXPECT_EQ(trial->worker_id(), 3);
  EXPECT_EQ(trial->token(), "token-1");
  EXPECT_EQ(trial->deadline(), 130);
  absl::StatusOr<v1::Lease> ensemble = table_.Grant(kEnsemble, 4, 100);
  ASSERT_TRUE(ensemble.ok());
  EXPECT_EQ(ensemble->ensemble_id(), 7);
  EXPECT_EQ(ensemble->trial_id(), 0);
  EXPECT_EQ(ensemble->token(), "token-2");
}

TEST_F(LeaseTableTest, OnlyTheHolderWithItsTokenHoldsTheCurrentAttempt) {
  table_.Add(kTrial);
  v1::Lease lease = *table_.Grant(kTrial, 3, 100);
  EXPECT_TRUE(table_.Check(kTrial, lease, true, "RUNNING", "").ok());
  v1::Lease other = lease;
  other.set_worker_id(4);
  absl::Status s = table_.Check(kTrial, other, true, "RUNNING", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("lease held by another worker"));
  v1::Lease forged = lease;
  forged.set_token("guess");
  s = table_.Check(kTrial, forged, true, "RUNNING", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("lease token does not match"));
}

TEST_F(LeaseTableTest, AnOldAttemptOrAStateOutsideTheLeaseIsNoLongerHeld) {
  table_.Add(kEnsemble);
  v1::Lease first = *table_.Grant(kEnsemble, 3, 100);
  EXPECT_TRUE(table_.Retry(kEnsemble, /*retryable=*/true, /*max_attempts=*/3));
  v1::Lease second = *table_.Grant(kEnsemble, 3, 110);
  EXPECT_EQ(second.attempt(), 2);
  absl::Status s = table_.Check(kEnsemble, first, true, "ENSEMBLE_RUNNING", "");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "lease on ensemble 7 attempt 1 is no longer held (the ensemble is ENSEMBLE_RUNNING "
            "at attempt 2)");
  s = table_.Check(kEnsemble, second, false, "ENSEMBLE_COMPLETED", "; note");
  EXPECT_EQ(s.message(),
            "lease on ensemble 7 attempt 2 is no longer held (the ensemble is "
            "ENSEMBLE_COMPLETED at attempt 2; note)");
}

TEST_F(LeaseTableTest, LeasesOnTheClockExpireAtTheirDeadlineUnlessRenewed) {
  table_.Add(kTrial);
  table_.Add(kEnsemble);
  table_.Add({LeaseKind::kTrial, 8});
  table_.Grant(kEnsemble, 1, 100).IgnoreError();
  table_.Grant(kTrial, 1, 100).IgnoreError();
  table_.Grant({LeaseKind::kTrial, 8}, 1, 100).IgnoreError();
  EXPECT_TRUE(table_.Expired(130).empty());
  EXPECT_EQ(table_.Renew({LeaseKind::kTrial, 8}, 120), 150);
  EXPECT_THAT(table_.Expired(131), ElementsAre(kTrial, kEnsemble));  // trials first
  table_.StopClock(kTrial);  // completed or stopped: never expires, still checkable
  EXPECT_THAT(table_.Expired(131), ElementsAre(kEnsemble));
  EXPECT_EQ(table_.Get(kTrial).token, "token-2");
}

TEST_F(LeaseTableTest, RetriesCountUpToMaxAttemptsAndKeepTheHolder) {
  table_.Add(kTrial);
  table_.Grant(kTrial, 5, 100).IgnoreError();
  EXPECT_TRUE(table_.Retry(kTrial, true, 2));
  EXPECT_EQ(table_.Get(kTrial).retries, 1);
  EXPECT_EQ(table_.Get(kTrial).worker_id, 5);
  EXPECT_EQ(table_.Get(kTrial).token, "");
  EXPECT_TRUE(table_.Expired(1e9).empty());
  table_.Grant(kTrial, 5, 100).IgnoreError();
  EXPECT_FALSE(table_.Retry(kTrial, true, 2));  // the second failure of two allowed
  table_.Add(kEnsemble);
  table_.Grant(kEnsemble, 5, 100).IgnoreError();
  EXPECT_FALSE(table_.Retry(kEnsemble, /*retryable=*/false, 3));
}

TEST_F(LeaseTableTest, AReleasedLeaseCountsNothingAndKeepsItsAttemptSpent) {
  table_.Add(kTrial);
  table_.Grant(kTrial, 5, 100).IgnoreError();
  table_.Release(kTrial);
  const LeaseRecord& record = table_.Get(kTrial);
  EXPECT_EQ(record.attempt, 1);
  EXPECT_EQ(record.retries, 0);
  EXPECT_EQ(record.worker_id, 0);
  EXPECT_EQ(record.token, "");
  EXPECT_EQ(record.deadline, 0);
  EXPECT_TRUE(table_.Expired(1e9).empty());
  EXPECT_EQ(table_.Grant(kTrial, 6, 100)->attempt(), 2);
}

TEST_F(LeaseTableTest, NoTokenNoLease) {
  table_.Add(kTrial);
  fail_tokens_ = true;
  absl::StatusOr<v1::Lease> lease = table_.Grant(kTrial, 5, 100);
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(table_.Get(kTrial).attempt, 0);
  EXPECT_TRUE(table_.Expired(1e9).empty());
}

TEST_F(LeaseTableTest, ARestoredLiveLeaseGetsAFreshDeadlineAndATokenWhenItHadNone) {
  LeaseRecord stored;
  stored.attempt = 2;
  stored.worker_id = 9;
  stored.token = "from-the-db";
  stored.deadline = 5;
  ASSERT_TRUE(table_.Restore(kTrial, stored, /*live=*/true, 1000).ok());
  EXPECT_EQ(table_.Get(kTrial).deadline, 1030);
  EXPECT_EQ(table_.Get(kTrial).token, "from-the-db");
  stored.token.clear();
  ASSERT_TRUE(table_.Restore(kEnsemble, stored, /*live=*/true, 1000).ok());
  EXPECT_EQ(table_.Get(kEnsemble).token, "token-1");  // nobody knows it: it runs out
  ASSERT_TRUE(table_.Restore({LeaseKind::kTrial, 8}, stored, /*live=*/false, 1000).ok());
  EXPECT_EQ(table_.Get({LeaseKind::kTrial, 8}).deadline, 0);
  EXPECT_THAT(table_.Expired(1031), ElementsAre(kTrial, kEnsemble));
}

}  // namespace
}  // namespace tuner::server
