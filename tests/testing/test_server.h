// TestServer: a real tuner-server on 127.0.0.1 with an OS-chosen port and a temp SQLite file,
// plus stubs for both services. Restart() stops it and starts a new one on the same db.
#ifndef TUNER_TESTS_TESTING_TEST_SERVER_H_
#define TUNER_TESTS_TESTING_TEST_SERVER_H_

#include <memory>
#include <string>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/tuner.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tuner-server/tuner_server.h"

namespace tuner::testing {

namespace v1 = ::tuner::v1;

class TestServer {
 public:
  explicit TestServer(server::ServerOptions options = {}) : options_(std::move(options)) {
    options_.db_path = dir_.File("tuner.db");
    options_.listen = "127.0.0.1:0";
    Start();
  }

  void Start() {
    auto started = server::TunerServer::Start(options_);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
    options_.listen = "127.0.0.1:" + std::to_string(server_->port());  // same port on restart
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    studies_ = v1::StudyService::NewStub(channel_);
    workers_ = v1::WorkerService::NewStub(channel_);
  }

  void Stop() { server_.reset(); }
  void Restart() {
    Stop();
    Start();
  }

  std::string address() const { return server_->address(); }
  const std::string& db_path() const { return options_.db_path; }
  server::TunerServer& server() { return *server_; }
  v1::StudyService::Stub& studies() { return *studies_; }
  v1::WorkerService::Stub& workers() { return *workers_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

 private:
  TempDir dir_;
  server::ServerOptions options_;
  std::unique_ptr<server::TunerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::StudyService::Stub> studies_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

}  // namespace tuner::testing

#endif  // TUNER_TESTS_TESTING_TEST_SERVER_H_
