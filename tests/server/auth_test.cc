// Bearer-token auth and TLS on a real server: calls without the token are refused, the health
// service stays open, TLS (and mutual TLS) work end to end.
#include <cstdlib>
#include <fstream>

#include "common/secrets.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/server/specs.h"
#include "tests/testing/test_server.h"
#include "tuner-server/auth.h"

namespace tuner::testing {
namespace {

grpc::Status ListStudies(v1::StudyService::Stub& stub, const std::string& authorization) {
  grpc::ClientContext context;
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListStudiesResponse response;
  return stub.ListStudies(&context, {}, &response);
}

grpc::Status HealthCheck(std::shared_ptr<grpc::Channel> channel) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  // HealthCheckRequest{service: "tuner.v1.StudyService"}, encoded by hand (field 1, string).
  const std::string service = "tuner.v1.StudyService";
  const std::string encoded = std::string("\x0a") + static_cast<char>(service.size()) + service;
  grpc::Slice slice(encoded);
  grpc::ByteBuffer request(&slice, 1), response;
  auto call = generic.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &queue);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  queue.Next(&tag, &ok);
  return status;
}

TEST(Auth, CallsWithoutTheTokenAreRefused) {
  server::ServerOptions options;
  options.auth_token = "s3cret-token";
  TestServer server(options);
  EXPECT_EQ(ListStudies(server.studies(), "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListStudies(server.studies(), "Bearer wrong").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListStudies(server.studies(), "s3cret-token").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(ListStudies(server.studies(), "Bearer s3cret-token").ok());
  // Worker calls and streams are guarded too.
  v1::RegisterWorkerRequest reg;
  reg.set_name("w");
  v1::RegisterWorkerResponse registered;
  grpc::ClientContext context;
  EXPECT_EQ(server.workers().RegisterWorker(&context, reg, &registered).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext watch_context;
  v1::WatchStudyRequest watch;
  auto reader = server.studies().WatchStudy(&watch_context, watch);
  v1::StudyEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // The health service stays open for load balancers and probes.
  grpc::Status health = HealthCheck(server.channel());
  EXPECT_TRUE(health.ok()) << health.error_code() << " " << health.error_message();
}

TEST(Auth, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(server::ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(server::ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(server::ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(server::ConstantTimeEquals("", "a"));
  EXPECT_TRUE(server::ConstantTimeEquals("", ""));
}

// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with the
// openssl command line.
class Certificates {
 public:
  explicit Certificates(const TempDir& dir) : dir_(dir) {
    const std::string d = dir.path();
    std::ofstream(d + "/san.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    const std::string script =
        "set -e; cd " + d + ";"
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tuner-test-ca "
        "  -keyout ca.key -out ca.pem 2>/dev/null;"
        "for who in server client; do "
        "  openssl req -newkey rsa:2048 -nodes -subj /CN=$who -keyout $who.key -out $who.csr 2>/dev/null;"
        "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "    -extfile san.cnf -out $who.pem 2>/dev/null;"
        "done";
    ok_ = std::system(("bash -c '" + script + "'").c_str()) == 0;
  }
  bool ok() const { return ok_; }
  std::string File(const std::string& name) const { return dir_.File(name); }
  std::string Read(const std::string& name) const { return *ReadFile(File(name), name.c_str()); }

 private:
  const TempDir& dir_;
  bool ok_ = false;
};

TEST(Auth, MutualTlsWorksEndToEnd) {
  TempDir certs_dir;
  Certificates certs(certs_dir);
  ASSERT_TRUE(certs.ok()) << "openssl could not make test certificates";
  server::ServerOptions options;
  options.tls = {certs.File("server.pem"), certs.File("server.key"), certs.File("ca.pem")};
  options.auth_token = "tok";
  TestServer server(options);

  grpc::SslCredentialsOptions with_cert;
  with_cert.pem_root_certs = certs.Read("ca.pem");
  with_cert.pem_cert_chain = certs.Read("client.pem");
  with_cert.pem_private_key = certs.Read("client.key");
  auto good = v1::StudyService::NewStub(
      grpc::CreateChannel(server.address(), grpc::SslCredentials(with_cert)));
  EXPECT_TRUE(ListStudies(*good, "Bearer tok").ok());
  EXPECT_EQ(ListStudies(*good, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::SslCredentialsOptions without_cert;
  without_cert.pem_root_certs = certs.Read("ca.pem");
  auto no_client_cert = v1::StudyService::NewStub(
      grpc::CreateChannel(server.address(), grpc::SslCredentials(without_cert)));
  EXPECT_FALSE(ListStudies(*no_client_cert, "Bearer tok").ok());

  // The plaintext stub of TestServer cannot talk to a TLS server.
  EXPECT_FALSE(ListStudies(server.studies(), "Bearer tok").ok());
}

TEST(Auth, MissingCertificateFileIsNamed) {
  server::TlsFiles files{"/nonexistent/server.pem", "/nonexistent/server.key", ""};
  auto credentials = server::MakeServerCredentials(files);
  ASSERT_FALSE(credentials.ok());
  EXPECT_NE(credentials.status().message().find("/nonexistent/server.pem"), std::string::npos);
  auto half = server::MakeServerCredentials({"cert.pem", "", ""});
  EXPECT_EQ(half.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tuner::testing
