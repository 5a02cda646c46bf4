#include "tuner-server/metrics_endpoint.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "boost/asio/ip/address.hpp"
#include "tuner-server/listen_port.h"

namespace tuner::server {

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables, Limits limits) {
  // CivetWeb reads a bad address as something else (a bare number is a port on every
  // interface), so the address is checked here.
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen: expected host:port, got \"", listen, "\""));
  }
  std::string host = listen.substr(0, colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(host, error);
  if (error || (address.is_v6() && !bracketed)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics-listen: bad address \"", listen.substr(0, colon),
        "\" (a numeric IPv4 address, or an IPv6 one in brackets)"));
  }
  const int port = ParseListenPort(listen.substr(colon + 1));
  if (port < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-listen: bad port in \"", listen, "\""));
  }
  const std::vector<std::string> options = {
      "listening_ports", listen,
      "num_threads", std::to_string(limits.threads),
      "connection_queue", std::to_string(limits.queue),
      "request_timeout_ms", std::to_string(limits.request_timeout.count()),
      "max_request_size", std::to_string(limits.max_request_bytes),
      "enable_keep_alive", "no",
      "tcp_nodelay", "1",
  };
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-listen: cannot listen on ", listen, ": ", e.what()));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-listen: cannot listen on ", listen, ": no port"));
  }
  for (const auto& collectable : collectables) exposer->RegisterCollectable(collectable);
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(exposer), ports.front()));
}

}  // namespace tuner::server
