// ClientSecurity: how trial-worker and tunectl reach a tuner-server that wants a bearer token
// and/or TLS. One set of flags and env vars for both programs (AddClientSecurityFlags).
#ifndef TUNER_COMMON_CLIENT_SECURITY_H_
#define TUNER_COMMON_CLIENT_SECURITY_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"

namespace CLI {
class App;
}

namespace tuner {

struct ClientSecurity {
  std::string token;       // shared secret (TUNER_TOKEN)
  std::string token_file;  // or a file holding it (TUNER_TOKEN_FILE)
  std::string tls_ca;      // PEM CA of the server's certificate: use TLS (TUNER_TLS_CA)
  std::string tls_cert;    // PEM client certificate for mutual TLS (TUNER_TLS_CLIENT_CERT)
  std::string tls_key;     // its private key (TUNER_TLS_CLIENT_KEY)
  std::string tls_server_name;  // override the name checked in the server certificate
};

// What a client needs to make calls: channel credentials and per-call metadata.
struct ClientAuth {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::map<std::string, std::string> metadata;  // {"authorization": "Bearer ..."} or empty
  std::string tls_server_name;
};

// Registers --token, --token-file, --tls-ca, --tls-cert, --tls-key, --tls-server-name.
void AddClientSecurityFlags(CLI::App& app, ClientSecurity& security);

// Reads the files; errors name the flag's file.
absl::StatusOr<ClientAuth> ResolveClientSecurity(const ClientSecurity& security);

// A channel to address with auth's credentials (and TLS name override, when set).
std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& address,
                                                 const ClientAuth& auth,
                                                 grpc::ChannelArguments args = {});

}  // namespace tuner

#endif  // TUNER_COMMON_CLIENT_SECURITY_H_
