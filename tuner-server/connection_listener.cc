#include "tuner-server/connection_listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "spdlog/spdlog.h"
#include "tuner-server/listen_port.h"

namespace tuner::server {
namespace {

using boost::asio::ip::tcp;

// The lowest free descriptor number, which is at least the number of descriptors open.
int LowestFreeDescriptor() {
  const int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return 0;
  close(fd);
  return fd;
}

absl::StatusOr<tcp::endpoint> Resolve(boost::asio::io_context& io, const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: expected host:port, got \"", listen, "\""));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const int port = ParseListenPort(listen.substr(colon + 1));
  if (port < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: bad port in \"", listen, "\""));
  }
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(host, error);
  if (!error) return tcp::endpoint(address, static_cast<unsigned short>(port));
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(host, std::to_string(port), error);
  if (error || results.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: cannot resolve \"", host, "\"",
                                                   error ? ": " + error.message() : ""));
  }
  return results.begin()->endpoint();
}

}  // namespace

ConnectionListener::ConnectionListener(boost::asio::io_context& io, Handoff handoff,
                                       Limits limits)
    : handoff_(std::move(handoff)), limits_(limits), acceptor_(io), backoff_(io) {}

ConnectionListener::~ConnectionListener() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;  // the acceptor closes with its member; the io_context has stopped
}

absl::StatusOr<std::unique_ptr<ConnectionListener>> ConnectionListener::Start(
    boost::asio::io_context& io, const std::string& listen, Handoff handoff, Limits limits) {
  auto where = Resolve(io, listen);
  if (!where.ok()) return where.status();
  std::unique_ptr<ConnectionListener> listener(
      new ConnectionListener(io, std::move(handoff), limits));
  boost::system::error_code error;
  tcp::acceptor& acceptor = listener->acceptor_;
  acceptor.open(where->protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  // Accepted sockets inherit TCP_NODELAY: small unary replies are not held back by Nagle.
  if (!error) acceptor.set_option(tcp::no_delay(true), error);
  if (!error) acceptor.bind(*where, error);
  if (!error) acceptor.listen(SOMAXCONN, error);
  if (!error) acceptor.non_blocking(true, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ": ", error.message(),
                                               " (address in use or invalid?)"));
  }
  listener->port_ = acceptor.local_endpoint().port();

  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const int64_t nofile =
      limit.rlim_cur == RLIM_INFINITY ? int64_t{1} << 30 : static_cast<int64_t>(limit.rlim_cur);
  const int64_t reserve = limits.reserve >= 0
                              ? limits.reserve
                              : std::max<int64_t>(16, std::min<int64_t>(256, nofile / 8));
  const int64_t by_cap = int64_t{LowestFreeDescriptor()} + std::max(0, limits.max_connections);
  listener->threshold_ =
      static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(by_cap, nofile - reserve)));
  spdlog::info(
      "gRPC connections: new ones are closed at once from descriptor {} on (RLIMIT_NOFILE {}, "
      "{} kept in reserve, --max-connections {})",
      listener->threshold_, nofile, reserve, limits.max_connections);
  listener->Wait();
  return listener;
}

void ConnectionListener::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  // The acceptor belongs to the io thread; if the io_context has stopped already, the
  // destructor closes it.
  boost::asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    backoff_.cancel();
    acceptor_.close(ignored);
  });
}

void ConnectionListener::Wait() {
  acceptor_.async_wait(tcp::acceptor::wait_read, [this](const boost::system::error_code& error) {
    if (error == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (error) {
      Backoff(error.value());
      return;
    }
    AcceptReady();
  });
}

void ConnectionListener::AcceptReady() {
  for (;;) {
    const int fd = accept4(acceptor_.native_handle(), nullptr, nullptr,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
      if (error == EAGAIN || error == EWOULDBLOCK) break;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM, ...: the connection stays in the backlog and would
      // fail again at once; wait, then try again.
      Backoff(error);
      return;
    }
    if (in_backoff_episode_) {
      in_backoff_episode_ = false;
      spdlog::info("gRPC port accepts connections again");
    }
    if (fd >= threshold_) {
      ++refused_;
      close(fd);
      const auto now = std::chrono::steady_clock::now();
      if (now - last_refusal_log_ > std::chrono::seconds(10)) {
        last_refusal_log_ = now;
        spdlog::warn(
            "gRPC connection closed at once: descriptor {} is over the connection cap (from {} "
            "on; {} refused so far)",
            fd, threshold_, refused_.load());
      }
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) {
      close(fd);
      return;
    }
    handoff_(acceptor_.native_handle(), fd);
  }
  Wait();
}

void ConnectionListener::Backoff(int error) {
  ++accept_failures_;
  if (!in_backoff_episode_) {
    in_backoff_episode_ = true;
    spdlog::warn("gRPC port: accept failed: {}; trying again every {} ms", std::strerror(error),
                 limits_.accept_backoff.count());
  }
  backoff_.expires_after(limits_.accept_backoff);
  backoff_.async_wait([this](const boost::system::error_code& error) {
    if (error != boost::asio::error::operation_aborted && acceptor_.is_open()) AcceptReady();
  });
}

}  // namespace tuner::server
