// The Prometheus endpoint's limits (issue 13 row 4, metrics part), now prometheus-cpp's Exposer
// (CivetWeb): an idle connection is closed after the request timeout, a request head over the
// size limit is refused, a flood of connections holds at most threads + queue descriptors, and
// the endpoint serves again after the connections close and after EMFILE. What CivetWeb does
// differently from the hand-written endpoint it replaced is pinned here too: connections over
// the cap wait (in the kernel's backlog) instead of being closed, and its accept thread has no
// back-off on EMFILE (measured: EmfileMeasured...). The tests choose short limits; the
// EMFILE tests run the endpoint in a forked child with a low RLIMIT_NOFILE.
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "tuner-server/metrics_endpoint.h"

namespace tuner::server {
namespace {

using boost::asio::ip::tcp;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A collectable with one gauge, ok_metric 1.
class OkMetric : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "ok_metric";
    family.help = "A constant.";
    family.type = prometheus::MetricType::Gauge;
    family.metric.emplace_back();
    family.metric.back().gauge.value = 1;
    return {family};
  }
};

// An endpoint serving OkMetric.
class EndpointThread {
 public:
  explicit EndpointThread(MetricsEndpoint::Limits limits)
      : metric_(std::make_shared<OkMetric>()) {
    auto started = MetricsEndpoint::Start("127.0.0.1:0", {metric_}, limits);
    EXPECT_TRUE(started.ok()) << started.status();
    if (started.ok()) endpoint_ = std::move(*started);
  }
  int port() const { return endpoint_ ? endpoint_->port() : 0; }

 private:
  std::shared_ptr<OkMetric> metric_;
  std::unique_ptr<MetricsEndpoint> endpoint_;
};

// A blocking client socket whose reads give up after `timeout` (so a test fails, not hangs).
std::unique_ptr<tcp::socket> Connect(boost::asio::io_context& io, int port,
                                     std::chrono::seconds timeout = std::chrono::seconds(5)) {
  auto socket = std::make_unique<tcp::socket>(io);
  socket->connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  setsockopt(socket->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return socket;
}

// Reads until the peer closes; returns what came and whether it closed (false: read timed out).
std::pair<std::string, bool> ReadToClose(tcp::socket& socket) {
  std::string data;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(socket.native_handle(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      data.append(buffer, n);
      continue;
    }
    const bool closed = n == 0 || errno == ECONNRESET;
    return {data, closed};
  }
}

std::string Get(int port) {
  boost::asio::io_context io;
  auto socket = Connect(io, port);
  boost::asio::write(*socket, boost::asio::buffer(std::string("GET /metrics HTTP/1.0\r\n\r\n")));
  return ReadToClose(*socket).first;
}

bool WaitFor(const std::function<bool()>& done, milliseconds limit = milliseconds(5000)) {
  const auto until = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

TEST(MetricsEndpoint, DefaultLimitsAreDocumented) {
  const MetricsEndpoint::Limits limits;
  EXPECT_EQ(limits.request_timeout, milliseconds(10000));
  EXPECT_EQ(limits.threads, 2);
  EXPECT_EQ(limits.queue, 8);
  EXPECT_EQ(limits.max_request_bytes, 8192u);
}

TEST(MetricsEndpoint, ServesTheCollectablesAndNothingElse) {
  EndpointThread server(MetricsEndpoint::Limits{});
  const std::string page = Get(server.port());
  EXPECT_NE(page.find(" 200 OK\r\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\nok_metric 1\n"), std::string::npos) << page;
  boost::asio::io_context io;
  auto socket = Connect(io, server.port());
  boost::asio::write(*socket, boost::asio::buffer(std::string("GET /other HTTP/1.0\r\n\r\n")));
  const std::string other = ReadToClose(*socket).first;
  EXPECT_NE(other.find(" 404 "), std::string::npos) << other;
  EXPECT_EQ(other.find("ok_metric"), std::string::npos) << other;
}

TEST(MetricsEndpoint, AConnectionThatSendsNothingIsClosedAfterTheIdleTimeout) {
  MetricsEndpoint::Limits limits;
  limits.request_timeout = milliseconds(300);
  EndpointThread server(limits);
  boost::asio::io_context io;
  auto socket = Connect(io, server.port());
  const auto start = Clock::now();
  const auto [data, closed] = ReadToClose(*socket);
  const auto waited = Clock::now() - start;
  EXPECT_TRUE(closed) << "still open after 5 s";
  EXPECT_EQ(data.find("ok_metric"), std::string::npos) << data;
  EXPECT_GE(waited, milliseconds(250));
  EXPECT_NE(Get(server.port()).find("ok_metric 1"), std::string::npos);
}

// The hand-written endpoint closed the 65th connection at once; CivetWeb stops accepting when
// its threads and queue are full, so a connection over the cap waits in the kernel's backlog
// (holding no descriptor of the server) and is served once a thread is free: here when the
// idle ones reach the request timeout.
TEST(MetricsEndpoint, ConnectionsOverTheCapWaitAndAreServedWhenAThreadIsFree) {
  MetricsEndpoint::Limits limits;
  limits.threads = 2;
  limits.queue = 2;
  limits.request_timeout = milliseconds(1000);
  EndpointThread server(limits);
  boost::asio::io_context io;
  std::vector<std::unique_ptr<tcp::socket>> idle;
  for (int i = 0; i < limits.threads + limits.queue; ++i) {
    idle.push_back(Connect(io, server.port()));
  }
  std::this_thread::sleep_for(milliseconds(100));
  const auto start = Clock::now();
  const std::string page = Get(server.port());
  const auto waited = Clock::now() - start;
  EXPECT_NE(page.find("ok_metric 1"), std::string::npos) << page;
  EXPECT_GE(waited, milliseconds(500)) << "served while the threads were held";
  EXPECT_LT(waited, milliseconds(4500));
}

TEST(MetricsEndpoint, ARequestHeadOverTheSizeLimitIsRefused) {
  MetricsEndpoint::Limits limits;
  limits.max_request_bytes = 1024;
  EndpointThread server(limits);
  boost::asio::io_context io;
  auto socket = Connect(io, server.port());
  boost::system::error_code ignored;
  boost::asio::write(*socket, boost::asio::buffer("GET /metrics HTTP/1.0\r\nX: " +
                                                  std::string(4096, 'a') + "\r\n\r\n"),
                     ignored);
  const auto [data, closed] = ReadToClose(*socket);
  EXPECT_TRUE(closed);
  // CivetWeb answers "400 Bad Request" and closes (the hand-written endpoint closed without a
  // word); never the page.
  EXPECT_EQ(data.find("ok_metric"), std::string::npos) << data;
  EXPECT_TRUE(data.empty() || data.rfind("HTTP/1.0 400 ", 0) == 0 ||
              data.rfind("HTTP/1.1 400 ", 0) == 0)
      << data;
}

int OpenFds() {
  int count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (readdir(dir) != nullptr) ++count;
  closedir(dir);
  return count;  // counts ".", ".." and the directory's own fd: a few too many, which is fine
}

// The child: an endpoint (default limits) under RLIMIT_NOFILE = its open descriptors + `room`.
// It writes its port to `out`, then per command from `in`: 'm' writes the CPU time
// (microseconds) it used over the next second, 'd' its open descriptors now (before the
// limit was lowered: the first answer). Exits on end of `in`.
[[noreturn]] void EndpointChild(int in, int out, int room) {
  auto metric = std::make_shared<OkMetric>();
  auto started = MetricsEndpoint::Start("127.0.0.1:0", {metric});
  if (!started.ok()) _exit(3);
  const int port = (*started)->port();
  // UBSan's vptr check, on a type-cache miss, probes the object's memory through a pipe(2);
  // with no descriptors left that probe fails and it reports a valid object as "invalid vptr"
  // (an artefact of the sanitizer, not of the endpoint). One scrape while descriptors are free
  // runs the same code (the Collectable's virtual Collect included) and fills that cache, so
  // the ASan + UBSan build checks the same code.
  if (Get(port).find("ok_metric 1") == std::string::npos) _exit(7);
  const int64_t base = OpenFds();
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = base + room;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(4);
  if (write(out, &port, sizeof(port)) != sizeof(port)) _exit(5);
  if (write(out, &base, sizeof(base)) != sizeof(base)) _exit(5);
  char command;
  while (read(in, &command, 1) == 1) {
    int64_t answer = 0;
    if (command == 'm') {
      rusage before{}, after{};
      getrusage(RUSAGE_SELF, &before);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      getrusage(RUSAGE_SELF, &after);
      auto micros = [](const rusage& r) {
        return int64_t{r.ru_utime.tv_sec + r.ru_stime.tv_sec} * 1000000 + r.ru_utime.tv_usec +
               r.ru_stime.tv_usec;
      };
      answer = micros(after) - micros(before);
    } else if (command == 'd') {
      answer = OpenFds();
    }
    if (write(out, &answer, sizeof(answer)) != sizeof(answer)) _exit(6);
  }
  _exit(0);  // without stopping CivetWeb: the process ends with its threads
}

// A child running EndpointChild, with the pipes to talk to it.
class Child {
 public:
  explicit Child(int room) {
    int to_child[2], from_child[2];
    EXPECT_EQ(pipe(to_child), 0);
    EXPECT_EQ(pipe(from_child), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(to_child[1]);
      close(from_child[0]);
      EndpointChild(to_child[0], from_child[1], room);
    }
    close(to_child[0]);
    close(from_child[1]);
    to_ = to_child[1];
    from_ = from_child[0];
    EXPECT_EQ(read(from_, &port_, sizeof(port_)), static_cast<ssize_t>(sizeof(port_)));
    EXPECT_EQ(read(from_, &base_fds_, sizeof(base_fds_)), static_cast<ssize_t>(sizeof(base_fds_)));
  }
  int64_t Ask(char command) {
    int64_t answer = -1;
    EXPECT_EQ(write(to_, &command, 1), 1);
    EXPECT_EQ(read(from_, &answer, sizeof(answer)), static_cast<ssize_t>(sizeof(answer)));
    return answer;
  }
  // Closes the command pipe; true when the child exited with status 0.
  bool Finish() {
    close(to_);
    int status = 0;
    const bool waited = waitpid(pid_, &status, 0) == pid_;
    close(from_);
    return waited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  int port() const { return port_; }
  int64_t base_fds() const { return base_fds_; }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1, port_ = 0;
  int64_t base_fds_ = 0;
};

// Issue 13 row 4: 40 connections under a low RLIMIT_NOFILE made the hand-written accept loop
// meet EMFILE, retry at once and spin at 95 % CPU. With 16 descriptors of room, CivetWeb's cap
// (2 threads + 8 queued) is reached before EMFILE: the flood holds at most threads + queue
// descriptors, the endpoint does not spin, and it serves again after the connections close.
TEST(MetricsEndpoint, AFloodHoldsAtMostThreadsPlusQueueDescriptorsWithoutSpinningAndServesAgain) {
  Child child(16);
  const MetricsEndpoint::Limits limits;
  {
    boost::asio::io_context io;
    std::vector<std::unique_ptr<tcp::socket>> held;
    for (int i = 0; i < 40; ++i) held.push_back(Connect(io, child.port()));
    std::this_thread::sleep_for(milliseconds(300));
    const int64_t used = child.Ask('m');
    EXPECT_LT(used, 200000) << "the endpoint used " << used / 1000 << " ms of CPU in 1 s";
    const int64_t fds = child.Ask('d');
    EXPECT_LE(fds, child.base_fds() + limits.threads + limits.queue + 1)
        << "descriptors while flooded (before: " << child.base_fds() << ")";
  }  // the connections close here

  std::string page;
  ASSERT_TRUE(WaitFor(
      [&] {
        page = Get(child.port());
        return page.find("ok_metric 1") != std::string::npos;
      },
      milliseconds(15000)))
      << page;
  EXPECT_LT(child.Ask('m'), 200000);  // idle again
  EXPECT_TRUE(child.Finish());
}

// What CivetWeb does when accept itself fails (the process out of descriptors for another
// reason; with 4 descriptors of room its cap is not reached first): its accept thread retries
// without a back-off. Measured and reported, not bounded (docs/reliability.md): the endpoint
// must still serve again once descriptors are back.
TEST(MetricsEndpoint, EmfileMeasuredCivetWebRetriesWithoutBackoffAndServesAgainAfterwards) {
  Child child(4);
  int64_t used = 0;
  {
    boost::asio::io_context io;
    std::vector<std::unique_ptr<tcp::socket>> held;
    for (int i = 0; i < 20; ++i) held.push_back(Connect(io, child.port()));
    std::this_thread::sleep_for(milliseconds(300));
    used = child.Ask('m');
  }
  std::printf("CivetWeb under EMFILE: %lld ms of CPU in 1 s\n",
              static_cast<long long>(used / 1000));
  RecordProperty("emfile_cpu_ms_per_s", static_cast<int>(used / 1000));
  std::string page;
  ASSERT_TRUE(WaitFor(
      [&] {
        page = Get(child.port());
        return page.find("ok_metric 1") != std::string::npos;
      },
      milliseconds(15000)))
      << page;
  EXPECT_LT(child.Ask('m'), 200000);  // idle again once descriptors are back
  EXPECT_TRUE(child.Finish());
}

}  // namespace
}  // namespace tuner::server
