#include "tuner-server/lease_token.h"

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "tuner-server/auth.h"

namespace tuner::server {

absl::StatusOr<std::string> NewLeaseToken() {
  unsigned char bytes[kLeaseTokenBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("cannot draw a lease token: OpenSSL's RAND_bytes failed");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * sizeof(bytes));
  for (unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 0xf]);
  }
  return token;
}

absl::Status CheckLeaseHolder(const v1::Lease& lease, int64_t holder, const std::string& token,
                              const std::string& what) {
  if (lease.worker_id() != holder) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": lease held by another worker (the call names worker ", lease.worker_id(),
        "; send the lease back whole, as AcquireTrial returned it)"));
  }
  // Both sides are compared whole, in time that depends only on their lengths.
  if (token.empty() || !ConstantTimeEquals(lease.token(), token)) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": lease token does not match (send the lease back whole, as AcquireTrial "
              "returned it)"));
  }
  return absl::OkStatus();
}

}  // namespace tuner::server
