// Lease tokens: the secret that makes a lease (of a trial or of an ensemble job) the right of
// the one worker it was handed to. A lease is named by (id, attempt), which anyone can guess
// (ids are sequential); only its holder knows the token, drawn from OpenSSL's CSPRNG for each
// lease and sent back with every call that names the lease. Trial and ensemble leases are
// checked by the same function, so the two cannot drift apart.
#ifndef TUNER_TUNER_SERVER_LEASE_TOKEN_H_
#define TUNER_TUNER_SERVER_LEASE_TOKEN_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/tuner.pb.h"

namespace tuner::server {

inline constexpr int kLeaseTokenBytes = 16;  // 128 bits; 32 hex characters

// A fresh token: kLeaseTokenBytes from RAND_bytes as lower-case hex. INTERNAL when the
// generator fails (then no lease must be handed out). Thread-safe.
absl::StatusOr<std::string> NewLeaseToken();

// OK when `lease` names `holder` (lease.worker_id) and carries `token` (compared in constant
// time). FAILED_PRECONDITION otherwise, like a lease that is no longer held, with a message
// that starts with `what` ("lease on trial 5 attempt 1") and says "lease held by another
// worker" or "lease token does not match". A holder without a token never matches.
// Called once the lease was found to be the current one.
absl::Status CheckLeaseHolder(const v1::Lease& lease, int64_t holder, const std::string& token,
                              const std::string& what);

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_LEASE_TOKEN_H_
