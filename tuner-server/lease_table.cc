#include "tuner-server/lease_table.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "tuner-server/lease_token.h"

namespace tuner::server {
namespace {

const char* Noun(LeaseKind kind) { return kind == LeaseKind::kTrial ? "trial" : "ensemble"; }

}  // namespace

LeaseTable::LeaseTable(double lease_seconds, TokenSource new_token)
    : lease_seconds_(lease_seconds), new_token_(std::move(new_token)) {}

void LeaseTable::Add(LeaseKey key) { records_[key] = LeaseRecord{}; }

absl::Status LeaseTable::Restore(LeaseKey key, LeaseRecord record, bool live, double now) {
  if (!live) {
    record.deadline = 0;
    records_[key] = std::move(record);
    on_clock_.erase(key);
    return absl::OkStatus();
  }
  if (record.token.empty()) {
    absl::StatusOr<std::string> token = new_token_();
    if (!token.ok()) return token.status();
    record.token = std::move(*token);
  }
  record.deadline = now + lease_seconds_;
  records_[key] = std::move(record);
  on_clock_.insert(key);
  return absl::OkStatus();
}

const LeaseRecord& LeaseTable::Get(LeaseKey key) const { return records_.at(key); }

LeaseRecord& LeaseTable::Mutable(LeaseKey key) { return records_.at(key); }

absl::StatusOr<v1::Lease> LeaseTable::Grant(LeaseKey key, int64_t worker_id, double now) {
  absl::StatusOr<std::string> token = new_token_();
  if (!token.ok()) return token.status();
  LeaseRecord& record = Mutable(key);
  record.attempt++;
  record.worker_id = worker_id;
  record.token = std::move(*token);
  record.deadline = now + lease_seconds_;
  on_clock_.insert(key);
  v1::Lease lease;
  if (key.kind == LeaseKind::kTrial) {
    lease.set_trial_id(key.id);
  } else {
    lease.set_ensemble_id(key.id);
  }
  lease.set_attempt(record.attempt);
  lease.set_deadline(record.deadline);
  lease.set_worker_id(worker_id);
  lease.set_token(record.token);
  return lease;
}

absl::Status LeaseTable::Check(LeaseKey key, const v1::Lease& lease, bool in_leased_state,
                               const std::string& state, const std::string& note) const {
  const LeaseRecord& record = Get(key);
  const std::string what =
      absl::StrCat("lease on ", Noun(key.kind), " ", key.id, " attempt ", lease.attempt());
  if (record.attempt == lease.attempt() && in_leased_state) {
    // The current lease: only its holder, with its token, may use it.
    return CheckLeaseHolder(lease, record.worker_id, record.token, what);
  }
  return absl::FailedPreconditionError(absl::StrCat(what, " is no longer held (the ",
                                                    Noun(key.kind), " is ", state, " at attempt ",
                                                    record.attempt, note, ")"));
}

double LeaseTable::Renew(LeaseKey key, double now) {
  LeaseRecord& record = Mutable(key);
  record.deadline = now + lease_seconds_;
  return record.deadline;
}

void LeaseTable::StopClock(LeaseKey key) { on_clock_.erase(key); }

void LeaseTable::Release(LeaseKey key) {
  LeaseRecord& record = Mutable(key);
  record.worker_id = 0;
  record.token.clear();
  record.deadline = 0;
  on_clock_.erase(key);
}

void LeaseTable::Withdraw(LeaseKey key) {
  Release(key);
  LeaseRecord& record = Mutable(key);
  if (record.attempt > 0) record.attempt--;
}

bool LeaseTable::Retry(LeaseKey key, bool retryable, int max_attempts) {
  LeaseRecord& record = Mutable(key);
  record.retries++;
  record.token.clear();
  record.deadline = 0;
  on_clock_.erase(key);
  return retryable && record.retries < max_attempts;
}

LeaseState LeaseTable::Save(LeaseKey key) const {
  return LeaseState{Get(key), on_clock_.count(key) > 0};
}

void LeaseTable::Put(LeaseKey key, LeaseState state) {
  Mutable(key) = std::move(state.record);
  if (state.on_clock) {
    on_clock_.insert(key);
  } else {
    on_clock_.erase(key);
  }
}

std::vector<LeaseKey> LeaseTable::Expired(double now) const {
  std::vector<LeaseKey> expired;
  for (const LeaseKey& key : on_clock_) {
    if (records_.at(key).deadline < now) expired.push_back(key);
  }
  return expired;
}

}  // namespace tuner::server
