// MetricsEndpoint: the Prometheus endpoint, prometheus-cpp's Exposer (an embedded CivetWeb
// server on threads of its own): GET /metrics answers the text exposition of the registered
// Collectables, any other path 404. Off unless --metrics-listen.
//
// Bounded so that a client cannot exhaust the process (issue 13 row 4), with CivetWeb's own
// options: `threads` connections are served at once and at most `queue` more wait, accepted,
// for a thread; beyond that CivetWeb stops accepting and new connections wait in the kernel's
// backlog (they hold no descriptor of ours) until a thread is free; a connection has
// request_timeout to send its request and take the answer, then it is closed; a request head
// over max_request_bytes is answered 413 and closed; no keep-alive. So the endpoint holds at
// most threads + queue descriptors, fewer than the reserve the gRPC listener leaves free
// (connection_listener.h). What CivetWeb does not do (measured in metrics_endpoint_test.cc
// and docs/reliability.md): it has no back-off when accept fails, so if the process is out of
// descriptors for another reason its accept thread spins until they are back (it serves again
// then); and idle connections occupy the threads, so `threads` idle connections delay a
// scrape by up to request_timeout.
#ifndef TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_
#define TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"

namespace tuner::server {

// The endpoint's bounds (see the top of this file); the defaults are what tuner-server uses.
struct MetricsEndpointLimits {
  int threads = 2;
  int queue = 8;
  size_t max_request_bytes = 8192;
  std::chrono::milliseconds request_timeout{10000};
};

// Thread-safe: the Exposer serves on its own threads and calls Collect() there, so the
// collectables must be thread-safe and outlive the endpoint (it holds weak pointers).
class MetricsEndpoint {
 public:
  using Limits = MetricsEndpointLimits;
  // listen: host:port with a numeric address ("[::1]:9090" for IPv6); port 0 picks one.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen,
      const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables,
      Limits limits = Limits());
  int port() const { return port_; }

 private:
  explicit MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port)
      : exposer_(std::move(exposer)), port_(port) {}

  const std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_
