// MetricsEndpoint: a minimal HTTP/1.0 responder for Prometheus on the server's Asio thread:
// GET /metrics answers the text exposition, anything else 404. Off unless --metrics-listen.
//
// Bounded so that a client cannot exhaust the process (issue 13 row 4): at most
// max_connections connections at once (more are accepted and closed at once), a request
// head of at most max_request_bytes, and idle_timeout for the whole
// connection (read the request, write the answer) before it is closed. When accept fails
// (EMFILE/ENFILE: out of file descriptors) the next accept waits accept_backoff
// instead of retrying at once, so the loop does not spin while descriptors are short, and it
// serves again as soon as they are back.
#ifndef TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_
#define TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"

namespace tuner::server {

// The endpoint's bounds (see the top of this file); the defaults are what tuner-server uses.
struct MetricsEndpointLimits {
  int max_connections = 64;
  size_t max_request_bytes = 8192;
  std::chrono::milliseconds idle_timeout{10000};
  std::chrono::milliseconds accept_backoff{100};
};

// Lives on one io_context; its handlers run on that context's thread. Destroy it only after
// the io_context has stopped. connections() and accept_failures() may be read from any thread.
class MetricsEndpoint {
 public:
  using Render = std::function<std::string()>;
  using Limits = MetricsEndpointLimits;
  // listen: host:port (port 0 picks one).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(boost::asio::io_context& io,
                                                                const std::string& listen,
                                                                Render render,
                                                                Limits limits = Limits());
  int port() const { return port_; }
  // Connections open right now.
  int connections() const { return *connections_; }
  // accept() calls that failed (each followed by a back-off).
  int accept_failures() const { return accept_failures_; }

 private:
  MetricsEndpoint(boost::asio::io_context& io, Render render, Limits limits);
  void Accept();

  // Constant after construction.
  const Render render_;
  const Limits limits_;
  // Shared with the sessions, which may outlive the endpoint while the io_context drains.
  const std::shared_ptr<std::atomic<int>> connections_;
  // Used on the io_context's thread only.
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  std::atomic<int> accept_failures_{0};
  int port_ = 0;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_
