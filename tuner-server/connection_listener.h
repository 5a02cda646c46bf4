// ConnectionListener: the gRPC port's accept loop, run by tuner-server itself on an Asio
// io_context; every accepted connection is handed to gRPC (ServerBuilder's external connection
// acceptor, which keeps TLS and every channel argument).
//
// Why not gRPC's own listener (issue 13 row 4): in gRPC 1.51 (Debian 12) the first failed
// accept4 (EMFILE: 1,100 idle connections) ends its accept loop for good: the port stays open,
// connections queue in the backlog and are never served. 1.51 also has no cap on connections
// (GRPC_ARG_MAX_ALLOWED_INCOMING_CONNECTIONS came later). This loop
//  - backs off accept_backoff after a failed accept (EMFILE, ENFILE, ENOBUFS, ...) and tries
//    again: it never spins and never stops while the listener is open;
//  - caps connections by descriptor number: accept returns the lowest free descriptor, so a
//    new connection whose descriptor is >= the threshold means at least that many are open; it
//    is closed at once. The threshold is min(descriptors open at start + max_connections,
//    RLIMIT_NOFILE - reserve), so descriptors above it stay free for the db, checkpoint files
//    and the metrics endpoint even while the gRPC port is flooded.
// Connections gRPC holds idle are closed by gRPC (handshake timeout, max connection idle,
// keepalive: see tuner_server.cc), which gives their descriptors back.
#ifndef TUNER_TUNER_SERVER_CONNECTION_LISTENER_H_
#define TUNER_TUNER_SERVER_CONNECTION_LISTENER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"

namespace tuner::server {

struct ConnectionListenerLimits {
  // Connections (counted as descriptors above those open at Start) before new ones are closed.
  int max_connections = 4096;
  // Descriptors under RLIMIT_NOFILE never used for connections; < 0: max(16, min(256, limit/8)).
  int reserve = -1;
  std::chrono::milliseconds accept_backoff{100};
};

// Start and Stop may be called from any thread; the accept loop runs on the io_context's
// thread. After Stop returns no connection is handed over any more. Destroy it only after
// the io_context has stopped (its handlers reference it).
class ConnectionListener {
 public:
  // Takes ownership of `fd`, an accepted, non-blocking, close-on-exec socket; `listener_fd` is
  // the listening socket it came from.
  using Handoff = std::function<void(int listener_fd, int fd)>;
  using Limits = ConnectionListenerLimits;

  // listen: "host:port" with a numeric IPv4 address, "[IPv6]:port", or a host name (its first
  // address); port 0 picks a free one.
  static absl::StatusOr<std::unique_ptr<ConnectionListener>> Start(boost::asio::io_context& io,
                                                                   const std::string& listen,
                                                                   Handoff handoff,
                                                                   Limits limits = Limits());
  ~ConnectionListener();

  int port() const { return port_; }
  // The descriptor number from which new connections are closed at once.
  int threshold() const { return threshold_; }
  // Closes the listening socket; connections already handed over are gRPC's.
  void Stop();

  // accept() calls that failed (each followed by a back-off), and connections closed because
  // of the cap. Any thread.
  int accept_failures() const { return accept_failures_; }
  int refused() const { return refused_; }

 private:
  ConnectionListener(boost::asio::io_context& io, Handoff handoff, Limits limits);
  void Wait();
  void AcceptReady();
  void Backoff(int error);

  // Constant after Start.
  const Handoff handoff_;
  const Limits limits_;
  int port_ = 0;
  int threshold_ = 0;
  // Used on the io_context's thread only (and by Start before the loop runs).
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  bool in_backoff_episode_ = false;  // one log line per run of failures
  std::atomic<int> accept_failures_{0};
  std::atomic<int> refused_{0};
  std::chrono::steady_clock::time_point last_refusal_log_{};
  std::mutex mu_;
  bool stopped_ = false;  // guarded by mu_; checked around each handoff
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_CONNECTION_LISTENER_H_
