// The Prometheus endpoint: off by default; with --metrics-listen it serves RPC counts,
// latencies and trial gauges as text.
#include <future>

#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tuner-server/metrics.h"
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
  // CivetWeb answers an HTTP/1.0 request with an HTTP/1.1 status line.
  EXPECT_NE(page.find(" 200 OK\r\n"), std::string::npos) << page;
  // prometheus-cpp writes a series' labels sorted by name: code before method.
  EXPECT_NE(page.find("tuner_rpc_total{code=\"OK\",method=\"/tuner.v1.StudyService/CreateStudy\"} 1"),
            std::string::npos) << page;
  EXPECT_NE(page.find("tuner_rpc_duration_seconds_count{method=\"/tuner.v1.WorkerService/AcquireTrial\"} 1"),
            std::string::npos) << page;
  EXPECT_NE(page.find("tuner_trials{study=\"1\",state=\"COMPLETED\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("tuner_workers 1"), std::string::npos) << page;
  EXPECT_NE(HttpGet(server.server().metrics_port(), "/other").find("404"), std::string::npos);
}

// Calls `method` (any name) on `channel` with an empty request; returns the status.
grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;  // an empty message (a default one is null)
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();
}

// Issue 13 row 10: method names a client makes up were labels, so 5,000 of them made the
// scrape 157 MiB. Now they all count under method="unknown".
TEST(Metrics, UnknownMethodNamesAreCountedUnderOneLabel) {
  server::ServerOptions options;
  options.metrics_listen = "127.0.0.1:0";
  TestServer server(options);
  const std::string before = HttpGet(server.server().metrics_port(), "/metrics");
  constexpr int kCalls = 1000;
  for (int i = 0; i < kCalls; ++i) {
    const grpc::Status status = CallRaw(server.channel(), "/x.Y/Z" + std::to_string(i));
    ASSERT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << i << status.error_message();
  }
  const std::string page = HttpGet(server.server().metrics_port(), "/metrics");
  EXPECT_EQ(page.find("/x.Y/Z"), std::string::npos);
  EXPECT_NE(page.find("tuner_rpc_total{code=\"UNIMPLEMENTED\",method=\"unknown\"} " +
                      std::to_string(kCalls)),
            std::string::npos)
      << page;
  // One more label's worth of lines (2 counters would be ~100 bytes; the histogram ~1.5 KiB),
  // not 1,000 of them (~1.8 MB).
  EXPECT_LT(page.size(), before.size() + 4096) << page;
}

// Issue 13 row 10: a method name with a quote and a newline wrote its own line into the page.
TEST(Metrics, AMethodNameCannotInjectALine) {
  server::ServerOptions options;
  options.metrics_listen = "127.0.0.1:0";
  TestServer server(options);
  const std::string crafted = "/x.Y/Z\"}\nfake_metric{a=\"b\"} 1\n#";
  // gRPC may refuse to send such a :path; either way nothing may reach the page.
  CallRaw(server.channel(), crafted);
  const std::string page = HttpGet(server.server().metrics_port(), "/metrics");
  EXPECT_EQ(page.find("\nfake_metric"), std::string::npos) << page;
  EXPECT_EQ(page.find("fake_metric"), std::string::npos) << page;

  // And in RpcMetrics itself, without the transport in between.
  server::RpcMetrics rpcs;
  rpcs.Record(crafted, 12, 0.001);
  rpcs.Record("/tuner.v1.StudyService/GetStudy", 0, 0.001);
  std::string out;
  rpcs.Render(&out);
  EXPECT_EQ(out.find("fake_metric"), std::string::npos) << out;
  EXPECT_NE(out.find("tuner_rpc_total{code=\"UNIMPLEMENTED\",method=\"unknown\"} 1"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tuner_rpc_total{code=\"OK\",method=\"/tuner.v1.StudyService/GetStudy\"} 1"),
            std::string::npos)
      << out;
}

// The escaping is prometheus-cpp's now (its TextSerializer); this pins that it escapes what
// the text format requires, for any label value that reaches it.
TEST(Metrics, LabelValuesAreEscapedPerTheTextFormat) {
  server::SchedulerCollectable gauges([] {
    server::SchedulerGauges g;
    g.studies["plain/Name"] = 1;
    g.studies["a\"b\\c\nd"] = 2;
    return g;
  });
  const std::string out = server::RenderText({&gauges});
  EXPECT_NE(out.find("tuner_studies{state=\"plain/Name\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("tuner_studies{state=\"a\\\"b\\\\c\\nd\"} 2\n"), std::string::npos) << out;
}

TEST(Metrics, EveryProtoMethodIsAKnownLabel) {
  server::RpcMetrics rpcs;
  rpcs.Record("/tuner.v1.WorkerService/FailEnsemble", 0, 0.001);
  rpcs.Record("/tuner.v1.StudyService/WatchStudy", 1, 0.001);
  rpcs.Record("/grpc.health.v1.Health/Check", 0, 0.001);
  std::string out;
  rpcs.Render(&out);
  EXPECT_NE(out.find("method=\"/tuner.v1.WorkerService/FailEnsemble\""), std::string::npos);
  EXPECT_NE(out.find("method=\"/tuner.v1.StudyService/WatchStudy\""), std::string::npos);
  EXPECT_NE(out.find("method=\"/grpc.health.v1.Health/Check\""), std::string::npos);
  EXPECT_EQ(out.find("unknown"), std::string::npos) << out;
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
