#include "tuner-server/metrics_endpoint.h"

#include "absl/strings/str_cat.h"
#include "boost/asio/read_until.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/streambuf.hpp"
#include "boost/asio/write.hpp"

namespace tuner::server {
namespace {

using boost::asio::ip::tcp;

// One connection: read the request head (at most max_request_bytes), answer, close; the whole
// exchange within idle_timeout. Counts itself in `connections` while it lives.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, MetricsEndpoint::Render render,
          const MetricsEndpoint::Limits& limits, std::shared_ptr<std::atomic<int>> connections)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(limits.max_request_bytes),
        render_(std::move(render)),
        idle_timeout_(limits.idle_timeout),
        connections_(std::move(connections)) {
    ++*connections_;
  }
  ~Session() { --*connections_; }

  void Start() {
    auto self = shared_from_this();
    timer_.expires_after(idle_timeout_);
    // Closing the socket ends the pending read or write, which releases the session.
    timer_.async_wait([self](const boost::system::error_code& error) {
      if (error != boost::asio::error::operation_aborted) self->Close();
    });
    // A head over max_request_bytes fails the read (not_found): the connection is closed.
    boost::asio::async_read_until(socket_, buffer_, "\r\n\r\n",
                                  [self](const boost::system::error_code& error, size_t) {
                                    if (error) {
                                      self->Close();
                                    } else {
                                      self->Answer();
                                    }
                                  });
  }

 private:
  void Answer() {
    std::istream in(&buffer_);
    std::string method, path;
    in >> method >> path;
    std::string body, status = "200 OK";
    if (method == "GET" && (path == "/metrics" || path.rfind("/metrics?", 0) == 0)) {
      body = render_();
    } else {
      status = "404 Not Found";
      body = "only GET /metrics is served here\n";
    }
    response_ = absl::StrCat("HTTP/1.0 ", status, "\r\n",
                             "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
                             "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n",
                             body);
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(response_),
                             [self](const boost::system::error_code&, size_t) {
                               boost::system::error_code ignored;
                               self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                               self->Close();
                             });
  }

  void Close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::streambuf buffer_;
  const MetricsEndpoint::Render render_;
  const std::chrono::milliseconds idle_timeout_;
  const std::shared_ptr<std::atomic<int>> connections_;
  std::string response_;
};

}  // namespace

MetricsEndpoint::MetricsEndpoint(boost::asio::io_context& io, Render render, Limits limits)
    : render_(std::move(render)),
      limits_(limits),
      connections_(std::make_shared<std::atomic<int>>(0)),
      acceptor_(io),
      backoff_(io) {}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    boost::asio::io_context& io, const std::string& listen, Render render, Limits limits) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen: expected host:port, got \"", listen, "\""));
  }
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(listen.substr(0, colon), error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen: bad address \"", listen.substr(0, colon), "\""));
  }
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-listen: bad port in \"", listen, "\""));
  }
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint(io, std::move(render), limits));
  tcp::endpoint where(address, static_cast<unsigned short>(port));
  endpoint->acceptor_.open(where.protocol(), error);
  if (!error) endpoint->acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) endpoint->acceptor_.bind(where, error);
  if (!error) endpoint->acceptor_.listen(64, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-listen: cannot listen on ", listen, ": ", error.message()));
  }
  endpoint->port_ = endpoint->acceptor_.local_endpoint().port();
  endpoint->Accept();
  return endpoint;
}

void MetricsEndpoint::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& error, tcp::socket socket) {
    if (error == boost::asio::error::operation_aborted) return;
    if (error) {
      // EMFILE / ENFILE (or any other failure): the pending connection stays in the backlog
      // and would fail again at once; wait before the next try instead of spinning.
      ++accept_failures_;
      backoff_.expires_after(limits_.accept_backoff);
      backoff_.async_wait([this](const boost::system::error_code& wait_error) {
        if (wait_error != boost::asio::error::operation_aborted) Accept();
      });
      return;
    }
    if (*connections_ >= limits_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over the cap: refuse this one, keep serving the others
    } else {
      std::make_shared<Session>(std::move(socket), render_, limits_, connections_)->Start();
    }
    Accept();
  });
}

}  // namespace tuner::server
