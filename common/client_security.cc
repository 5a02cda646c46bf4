#include "common/client_security.h"

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "grpcpp/create_channel.h"

namespace tuner {

void AddClientSecurityFlags(CLI::App& app, ClientSecurity& security) {
  app.add_option("--token", security.token, "bearer token the server requires")
      ->envname("TUNER_TOKEN");
  app.add_option("--token-file", security.token_file, "read the bearer token from this file")
      ->envname("TUNER_TOKEN_FILE");
  app.add_option("--tls-ca", security.tls_ca, "PEM CA of the server certificate: connect with TLS")
      ->envname("TUNER_TLS_CA");
  app.add_option("--tls-cert", security.tls_cert, "PEM client certificate (mutual TLS)")
      ->envname("TUNER_TLS_CLIENT_CERT");
  app.add_option("--tls-key", security.tls_key, "PEM private key of --tls-cert")
      ->envname("TUNER_TLS_CLIENT_KEY");
  app.add_option("--tls-server-name", security.tls_server_name,
                 "name to check in the server certificate (default: the host in --server)")
      ->envname("TUNER_TLS_SERVER_NAME");
}

absl::StatusOr<ClientAuth> ResolveClientSecurity(const ClientSecurity& security) {
  ClientAuth auth;
  std::string token = security.token;
  if (!security.token_file.empty()) {
    if (!token.empty()) return absl::InvalidArgumentError("give --token or --token-file, not both");
    auto read = ReadTokenFile(security.token_file);
    if (!read.ok()) return read.status();
    token = *read;
  }
  if (!token.empty()) auth.metadata["authorization"] = "Bearer " + token;
  if (security.tls_ca.empty()) {
    if (!security.tls_cert.empty() || !security.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls-cert/--tls-key need --tls-ca (TLS)");
    }
    auth.credentials = grpc::InsecureChannelCredentials();
    return auth;
  }
  grpc::SslCredentialsOptions options;
  auto ca = ReadFile(security.tls_ca, "TLS CA (--tls-ca)");
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *ca;
  if (security.tls_cert.empty() != security.tls_key.empty()) {
    return absl::InvalidArgumentError("mutual TLS needs both --tls-cert and --tls-key");
  }
  if (!security.tls_cert.empty()) {
    auto cert = ReadFile(security.tls_cert, "TLS client certificate (--tls-cert)");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(security.tls_key, "TLS client key (--tls-key)");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  auth.credentials = grpc::SslCredentials(options);
  auth.tls_server_name = security.tls_server_name;
  return auth;
}

std::shared_ptr<grpc::Channel> MakeClientChannel(const std::string& address,
                                                 const ClientAuth& auth,
                                                 grpc::ChannelArguments args) {
  if (!auth.tls_server_name.empty()) args.SetSslTargetNameOverride(auth.tls_server_name);
  return grpc::CreateCustomChannel(
      address, auth.credentials ? auth.credentials : grpc::InsecureChannelCredentials(), args);
}

}  // namespace tuner
