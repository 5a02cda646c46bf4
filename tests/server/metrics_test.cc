// The Prometheus endpoint: off by default; with --metrics-listen it serves RPC counts,
// latencies and trial gauges as text.
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

std::string HttpGet(int port, const std::string& path) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string response;
  boost::system::error_code error;
  char buffer[4096];
  for (;;) {
    size_t n = socket.read_some(boost::asio::buffer(buffer), error);
    response.append(buffer, n);
    if (error) break;
  }
  return response;
}

TEST(Metrics, OffByDefault) {
  TestServer server;
  EXPECT_EQ(server.server().metrics_port(), 0);
}

TEST(Metrics, ServesRpcCountsAndTrialGauges) {
  server::ServerOptions options;
  options.metrics_listen = "127.0.0.1:0";
  TestServer server(options);
  ASSERT_GT(server.server().metrics_port(), 0);
  v1::CreateStudyRequest create;
  create.set_spec_yaml(RandomSpec(3, 1));
  v1::CreateStudyResponse created;
  grpc::ClientContext context;
  ASSERT_TRUE(server.studies().CreateStudy(&context, create, &created).ok());
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  ASSERT_TRUE(worker.Complete(trial.lease(), 0.5, 1).ok());

  const std::string page = HttpGet(server.server().metrics_port(), "/metrics");
  EXPECT_NE(page.find("HTTP/1.0 200 OK"), std::string::npos) << page;
  EXPECT_NE(page.find("tuner_rpc_total{method=\"/tuner.v1.StudyService/CreateStudy\",code=\"OK\"} 1"),
            std::string::npos) << page;
  EXPECT_NE(page.find("tuner_rpc_duration_seconds_count{method=\"/tuner.v1.WorkerService/AcquireTrial\"} 1"),
            std::string::npos) << page;
  EXPECT_NE(page.find("tuner_trials{study=\"1\",state=\"COMPLETED\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("tuner_workers 1"), std::string::npos) << page;
  EXPECT_NE(HttpGet(server.server().metrics_port(), "/other").find("404"), std::string::npos);
}

TEST(Metrics, BadListenAddressIsNamed) {
  TempDir dir;
  server::ServerOptions options;
  options.db_path = dir.File("t.db");
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "not-an-address";
  auto started = server::TunerServer::Start(options);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.status().message().find("--metrics-listen"), std::string::npos);
}

}  // namespace
}  // namespace tuner::testing
