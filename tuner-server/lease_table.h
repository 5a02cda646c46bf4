// LeaseTable: the one lease machinery of the tuner-server, shared by trials and ensemble jobs.
// A unit of work (a trial, an ensemble job) is leased to one worker at a time: the lease is
// named by (id, attempt), bound to its holder's worker id and to a secret token (see
// lease_token.h), and runs out at a deadline unless the holder heartbeats. The table keeps,
// for every unit of work, how many leases it was granted (attempt), how many ended badly
// (retries), who holds or last held it, the live lease's token and deadline, and which leases
// are on the clock (expire). What a unit of work's state is (RUNNING, ...) stays with its
// owner; the table answers whether a lease still holds given that state.
//
// Thread-safety: none; the Scheduler owns one and guards it with its mutex.
#ifndef TUNER_TUNER_SERVER_LEASE_TABLE_H_
#define TUNER_TUNER_SERVER_LEASE_TABLE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/tuner.pb.h"

namespace tuner::server {

enum class LeaseKind { kTrial, kEnsemble };

// Names a unit of work: a trial id or an ensemble id.
struct LeaseKey {
  LeaseKind kind;
  int64_t id;
  bool operator<(const LeaseKey& other) const {
    return kind != other.kind ? kind < other.kind : id < other.id;
  }
  bool operator==(const LeaseKey& other) const { return kind == other.kind && id == other.id; }
};

// The leases of one unit of work; mirrored in its db row.
struct LeaseRecord {
  int attempt = 0;         // leases granted so far; the live (or last) lease's number
  int retries = 0;         // leases that ended badly (failed or expired)
  int64_t worker_id = 0;   // the holder, or the last one (0: none)
  std::string token;       // the lease's secret; empty when it was released
  double deadline = 0;     // unix seconds; 0 when released (not in the db for ensembles)
};

// Everything the table holds for one unit of work, to put back as it was (Put): a change is
// staged on the live state to learn the rows it writes, then undone until they committed.
struct LeaseState {
  LeaseRecord record;
  bool on_clock = false;
};

class LeaseTable {
 public:
  // A new token for each lease (lease_token.h's NewLeaseToken in the server).
  using TokenSource = std::function<absl::StatusOr<std::string>()>;

  LeaseTable(double lease_seconds, TokenSource new_token);
  LeaseTable(const LeaseTable&) = delete;
  LeaseTable& operator=(const LeaseTable&) = delete;

  // A new unit of work, never leased.
  void Add(LeaseKey key);
  // A unit of work as the db has it. A `live` lease (its work is RUNNING) gets a fresh
  // deadline, so a worker that outlived a restart keeps it by heartbeating in time, and goes
  // on the clock; a live lease without a token (leased by a server older than tokens) gets one
  // nobody knows, so it runs out and the work is re-queued. Other leases keep their record
  // with no deadline. An error only when no token can be drawn.
  absl::Status Restore(LeaseKey key, LeaseRecord record, bool live, double now);
  // The record of an added or restored unit of work.
  const LeaseRecord& Get(LeaseKey key) const;

  // Grants the next attempt's lease to worker_id, on the clock; returns it as the worker
  // gets it (id, attempt, deadline, worker id, token). INTERNAL when no token can be drawn:
  // then nothing changed and nothing may be leased.
  absl::StatusOr<v1::Lease> Grant(LeaseKey key, int64_t worker_id, double now);

  // Whether `lease` (its id, attempt > 0 already checked against the key) is the current
  // lease and its holder sent it. `in_leased_state`: the work is in a state its lease may act
  // in (e.g. RUNNING); otherwise, or when the attempt is not the last granted, the lease is no
  // longer held: FAILED_PRECONDITION "lease on trial 5 attempt 1 is no longer held (the trial
  // is <state> at attempt 2<note>)". A lease with the wrong worker or token: see
  // CheckLeaseHolder.
  absl::Status Check(LeaseKey key, const v1::Lease& lease, bool in_leased_state,
                     const std::string& state, const std::string& note) const;

  // The holder heartbeated: a new deadline, returned.
  double Renew(LeaseKey key, double now);
  // The lease no longer expires: its work completed or was stopped. Attempt, holder and token
  // stay, so a stopped trial's holder can still prove it holds the lease and hear "stop".
  void StopClock(LeaseKey key);
  // The lease ends without counting against the work (it never reached its worker, or the
  // pruner had already decided): holder, token and deadline are cleared. The attempt number
  // stays spent, so lease names are never reused.
  void Release(LeaseKey key);
  // Undoes the last Grant: its lease never took effect (the commit that would have recorded it
  // failed). Like Release, and the attempt number goes back to what it was before: nobody was
  // told the withdrawn lease, so the next one may carry its name (with a new token).
  void Withdraw(LeaseKey key);
  // The lease ended badly (its holder failed it, or it expired): counts a retry, clears the
  // token and deadline (the holder is kept, as the one who failed it). True when the work may
  // be leased again: `retryable` and fewer than max_attempts retries so far.
  bool Retry(LeaseKey key, bool retryable, int max_attempts);

  // A unit of work's record and whether it is on the clock; Put restores exactly that.
  LeaseState Save(LeaseKey key) const;
  void Put(LeaseKey key, LeaseState state);

  // The leases on the clock whose deadline passed, trials first, by id.
  std::vector<LeaseKey> Expired(double now) const;

 private:
  LeaseRecord& Mutable(LeaseKey key);

  const double lease_seconds_;
  const TokenSource new_token_;
  std::map<LeaseKey, LeaseRecord> records_;
  std::set<LeaseKey> on_clock_;  // live leases that expire at their deadline
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_LEASE_TABLE_H_
