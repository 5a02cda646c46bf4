// MetricsEndpoint: a minimal HTTP/1.0 responder for Prometheus on the server's Asio thread:
// GET /metrics answers the text exposition, anything else 404. Off unless --metrics-listen.
#ifndef TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_
#define TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"

namespace tuner::server {

// Lives on one io_context; its handlers run on that context's thread. Destroy it only after
// the io_context has stopped.
class MetricsEndpoint {
 public:
  using Render = std::function<std::string()>;
  // listen: host:port (port 0 picks one).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(boost::asio::io_context& io,
                                                                const std::string& listen,
                                                                Render render);
  int port() const { return port_; }

 private:
  MetricsEndpoint(boost::asio::io_context& io, Render render);
  void Accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  const Render render_;
  int port_ = 0;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_METRICS_ENDPOINT_H_
