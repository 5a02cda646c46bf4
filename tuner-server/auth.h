// Authenticator: checks the shared secret every StudyService / WorkerService call must carry
// as `authorization: Bearer <token>` metadata. With no token configured every call passes
// (a local, single-user set-up). The health service is not checked.
#ifndef TUNER_TUNER_SERVER_AUTH_H_
#define TUNER_TUNER_SERVER_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/security/server_credentials.h"

namespace tuner::server {

// Immutable after construction; thread-safe.
class Authenticator {
 public:
  explicit Authenticator(std::string token) : token_(std::move(token)) {}
  bool enabled() const { return !token_.empty(); }
  // UNAUTHENTICATED when a token is configured and the call lacks it or carries another.
  absl::Status Check(const grpc::CallbackServerContext& context) const;

 private:
  const std::string token_;
};

// Compares in time that depends only on the lengths, so a wrong token's timing says nothing
// about how much of it was right.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

struct TlsFiles {
  std::string cert;       // PEM server certificate chain
  std::string key;        // PEM private key
  std::string client_ca;  // PEM CA for client certificates; non-empty = mutual TLS required
};

// Insecure credentials when cert and key are empty; else TLS (mutual when client_ca is set).
// Errors name the unreadable file, or a cert without a key.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_AUTH_H_
