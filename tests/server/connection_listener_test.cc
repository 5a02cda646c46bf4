// The gRPC port's accept loop (issue 13 row 4): connections over the cap are closed at once and
// the others handed over; EMFILE backs off instead of spinning (or, as gRPC 1.51's own loop
// did, stopping for good) and the port accepts again once descriptors are back. The handoff
// here is a plain function, so no gRPC server is needed; tests/integration/fd_exhaustion_test.sh
// runs the same loop in front of a real tuner-server. The EMFILE test forks a child with a low
// RLIMIT_NOFILE, like metrics_endpoint_test.cc.
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "boost/asio/error.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "gtest/gtest.h"
#include "tuner-server/connection_listener.h"

namespace tuner::server {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Connected descriptors the listener handed over, held until Release (as gRPC holds them).
class HeldConnections {
 public:
  ~HeldConnections() { Release(); }
  ConnectionListener::Handoff Handoff() {
    return [this](int, int fd) {
      std::lock_guard<std::mutex> lock(mu_);
      if (close_at_once_) {
        close(fd);
      } else {
        fds_.push_back(fd);
      }
      ++handed_over_;
    };
  }
  // Closes the held ones; later ones are closed as they come.
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) close(fd);
    fds_.clear();
    close_at_once_ = true;
  }
  int held() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(fds_.size());
  }
  int handed_over() const { return handed_over_; }

 private:
  std::mutex mu_;
  std::vector<int> fds_;       // guarded by mu_
  bool close_at_once_ = false;  // guarded by mu_
  std::atomic<int> handed_over_{0};
};

// A client socket, made before the listener starts when a test counts descriptors (the cap
// counts every descriptor of the process, and these are in the same process).
int NewSocket() { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }

int ConnectTo(int port, int fd = -1) {
  if (fd < 0) fd = NewSocket();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// True when the peer closes `fd` within the receive timeout (5 s), false when it stays open.
bool ClosedByPeer(int fd) {
  char byte;
  const ssize_t n = recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

bool WaitFor(const std::function<bool()>& done, milliseconds limit = milliseconds(5000)) {
  const auto until = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// A listener on its own io_context thread.
class ListenerThread {
 public:
  ListenerThread(ConnectionListener::Handoff handoff, ConnectionListener::Limits limits)
      : guard_(io_.get_executor()) {
    auto started = ConnectionListener::Start(io_, "127.0.0.1:0", std::move(handoff), limits);
    EXPECT_TRUE(started.ok()) << started.status();
    if (started.ok()) listener_ = std::move(*started);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ListenerThread() {
    io_.stop();
    thread_.join();
    listener_.reset();
  }
  ConnectionListener& listener() { return *listener_; }
  int port() const { return listener_ ? listener_->port() : 0; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::unique_ptr<ConnectionListener> listener_;
  std::thread thread_;
};

TEST(ConnectionListener, DefaultLimitsAreDocumented) {
  const ConnectionListener::Limits limits;
  EXPECT_EQ(limits.max_connections, 4096);
  EXPECT_EQ(limits.reserve, -1);
  EXPECT_EQ(limits.accept_backoff, milliseconds(100));
}

TEST(ConnectionListener, RefusesABadAddressNamingIt) {
  boost::asio::io_context io;
  for (const char* bad : {"nonsense", "127.0.0.1:notaport", "127.0.0.1:70000"}) {
    auto started = ConnectionListener::Start(io, bad, [](int, int fd) { close(fd); });
    ASSERT_FALSE(started.ok()) << bad;
    EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(started.status().message().find("--listen"), std::string::npos);
  }
}

TEST(ConnectionListener, ConnectionsOverTheCapAreClosedAtOnceAndTheOthersHandedOver) {
  HeldConnections held;
  ConnectionListener::Limits limits;
  limits.max_connections = 5;
  std::vector<int> clients;
  for (int i = 0; i <= limits.max_connections; ++i) clients.push_back(NewSocket());
  ListenerThread server(held.Handoff(), limits);
  for (int i = 0; i < limits.max_connections; ++i) {
    ASSERT_GE(ConnectTo(server.port(), clients[i]), 0);
  }
  ASSERT_TRUE(WaitFor([&] { return held.held() == limits.max_connections; })) << held.held();
  const int extra = ConnectTo(server.port(), clients.back());
  ASSERT_GE(extra, 0);
  EXPECT_TRUE(ClosedByPeer(extra)) << "a connection over the cap stayed open";
  EXPECT_EQ(server.listener().refused(), 1);
  EXPECT_EQ(held.held(), limits.max_connections);
  // Once the held ones are closed, new connections are handed over again.
  held.Release();
  const int after = ConnectTo(server.port());
  EXPECT_TRUE(WaitFor([&] { return held.handed_over() == limits.max_connections + 1; }));
  EXPECT_TRUE(ClosedByPeer(after));
  close(after);
  for (int fd : clients) close(fd);
}

TEST(ConnectionListener, NothingIsHandedOverAfterStop) {
  HeldConnections held;
  ListenerThread server(held.Handoff(), ConnectionListener::Limits());
  const int first = ConnectTo(server.port());
  ASSERT_TRUE(WaitFor([&] { return held.handed_over() == 1; }));
  server.listener().Stop();
  std::this_thread::sleep_for(milliseconds(100));
  const int second = ConnectTo(server.port());  // refused (closed listener) or never accepted
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(held.handed_over(), 1);
  close(first);
  if (second >= 0) close(second);
}

int LowestFreeFd() {
  const int fd = dup(0);
  close(fd);
  return fd;
}

// The child: a listener (reserve 0, so accept itself meets EMFILE) under RLIMIT_NOFILE = open
// descriptors + 16, holding what it accepts. Writes its port to `out`; then per command from
// `in`: 'm' writes the CPU time (microseconds) it used over the next second, 'r' releases the
// held connections (and closes later ones at once), 'f' writes accept_failures(). Exits on EOF.
[[noreturn]] void ListenerChild(int in, int out) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  HeldConnections held;
  ConnectionListener::Limits limits;
  limits.reserve = 0;
  auto started = ConnectionListener::Start(io, "127.0.0.1:0", held.Handoff(), limits);
  if (!started.ok()) _exit(3);
  const int port = (*started)->port();
  // As in metrics_endpoint_test.cc: UBSan's vptr check probes memory through a pipe(2) on a
  // type-cache miss, which fails with no descriptors left; construct the error codes met under
  // EMFILE while descriptors are free, so the ASan + UBSan build checks the same code.
  for (const boost::system::error_code& warm :
       {boost::system::error_code(EMFILE, boost::system::system_category()),
        boost::system::error_code(ECONNRESET, boost::system::generic_category()),
        boost::system::error_code(boost::asio::error::operation_aborted)}) {
    if (!warm) _exit(7);
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = LowestFreeFd() + 16;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(4);
  std::thread thread([&io] { io.run(); });
  if (write(out, &port, sizeof(port)) != sizeof(port)) _exit(5);
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
    } else if (command == 'r') {
      held.Release();
    } else if (command == 'f') {
      answer = (*started)->accept_failures();
    }
    if (write(out, &answer, sizeof(answer)) != sizeof(answer)) _exit(6);
  }
  _exit(0);  // without joining: the process ends with its io thread
}

// Issue 13 row 4: gRPC 1.51's accept loop stopped for good on the first EMFILE.
TEST(ConnectionListener, BacksOffOnEmfileWithoutSpinningAndAcceptsAgainOnceDescriptorsAreBack) {
  int to_child[2], from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(to_child[1]);
    close(from_child[0]);
    ListenerChild(to_child[0], from_child[1]);
  }
  close(to_child[0]);
  close(from_child[1]);
  int port = 0;
  ASSERT_EQ(read(from_child[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  auto ask = [&](char command) {
    int64_t answer = -1;
    EXPECT_EQ(write(to_child[1], &command, 1), 1);
    EXPECT_EQ(read(from_child[0], &answer, sizeof(answer)), static_cast<ssize_t>(sizeof(answer)));
    return answer;
  };

  // 40 connections: the child holds about a dozen, then accept fails with EMFILE while the
  // rest wait in the backlog.
  std::vector<int> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(ConnectTo(port));
  std::this_thread::sleep_for(milliseconds(300));
  const int64_t used = ask('m');
  EXPECT_LT(used, 200000) << "the listener used " << used / 1000 << " ms of CPU in 1 s";
  EXPECT_GT(ask('f'), 0) << "accept never failed: the test did not reach EMFILE";
  for (int fd : clients) close(fd);

  // Descriptors come back: the backlog drains and a new connection is accepted (and, in the
  // child's release mode, closed at once, which this side sees as end of stream).
  ask('r');
  bool accepted = false;
  for (int attempt = 0; attempt < 20 && !accepted; ++attempt) {
    const int fd = ConnectTo(port);
    accepted = fd >= 0 && ClosedByPeer(fd);
    if (fd >= 0) close(fd);
  }
  EXPECT_TRUE(accepted) << "no connection accepted after the descriptors came back";
  EXPECT_LT(ask('m'), 200000);  // idle again

  close(to_child[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(from_child[0]);
}

}  // namespace
}  // namespace tuner::server
