// tuner-server: owns studies, hands trials to trial-workers, stores everything in SQLite.
#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "boost/asio/signal_set.hpp"
#include "spdlog/spdlog.h"
#include "common/atomic_file.h"
#include "common/secrets.h"
#include "common/version.h"
#include "tuner-server/tuner_server.h"

namespace {

// Every connection holds a descriptor; the default soft limit (often 1,024) is reached by a
// thousand idle connections, the hard one rarely. Raised for the whole process, so it happens
// here and not in the TunerServer that tests embed.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur == limit.rlim_max) {
    spdlog::info("RLIMIT_NOFILE is {} (already the hard limit)", limit.rlim_cur);
    return;
  }
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("RLIMIT_NOFILE stays {}: raising it to the hard limit {} failed: {}", before,
                 limit.rlim_max, std::strerror(errno));
    return;
  }
  spdlog::info("RLIMIT_NOFILE raised from {} to the hard limit {}", before, limit.rlim_max);
}

}  // namespace

int main(int argc, char** argv) {
  tuner::server::ServerOptions options;
  std::string log_level = "info";
  std::string port_file;
  std::string token_file;
  CLI::App app{"tuner-server: hyperparameter tuning studies over gRPC, stored in SQLite"};
  app.set_version_flag("--version", std::string("tuner-server ") + TUNER_VERSION);
  app.add_option("--db", options.db_path, "SQLite file (created when missing)")
      ->envname("TUNER_DB")
      ->required();
  app.add_option("--listen", options.listen, "host:port to listen on (port 0: any free port)")
      ->envname("TUNER_LISTEN")
      ->capture_default_str();
  app.add_option("--checkpoint-dir", options.checkpoint_dir,
                 "where checkpoint files are kept (default: <db>.checkpoints)")
      ->envname("TUNER_CHECKPOINT_DIR");
  app.add_option("--max-checkpoint-bytes", options.max_checkpoint_bytes,
                 "largest checkpoint one upload may store (larger: RESOURCE_EXHAUSTED)")
      ->envname("TUNER_MAX_CHECKPOINT_BYTES")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--checkpoint-disk-budget", options.checkpoint_disk_budget,
                 "bytes all stored checkpoints (and uploads in flight) may take together; an "
                 "upload past it is refused with RESOURCE_EXHAUSTED")
      ->envname("TUNER_CHECKPOINT_DISK_BUDGET")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--checkpoints-per-trial", options.checkpoints_per_trial,
                 "uploads a trial keeps, the newest (besides the one it recorded last); older "
                 "ones are deleted")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lease-seconds", options.lease_seconds,
                 "a trial goes back to the queue when its worker is silent this long")
      ->envname("TUNER_LEASE_SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-wait-seconds", options.max_wait_seconds, "longest AcquireTrial long-poll")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI::Option* token_option =
      app.add_option("--token", options.auth_token,
                     "shared secret every call must carry as 'authorization: Bearer TOKEN'")
          ->envname("TUNER_TOKEN");
  bool insecure_no_token = false;
  app.add_flag("--insecure-no-token", insecure_no_token,
               "allow --token \"\" (an explicitly empty token: no auth at all); without this "
               "flag an empty --token is an error");
  app.add_option("--token-file", token_file, "read the shared secret from this file")
      ->envname("TUNER_TOKEN_FILE");
  app.add_option("--tls-cert", options.tls.cert, "PEM certificate chain: serve TLS")
      ->envname("TUNER_TLS_CERT");
  app.add_option("--tls-key", options.tls.key, "PEM private key of --tls-cert")
      ->envname("TUNER_TLS_KEY");
  app.add_option("--tls-client-ca", options.tls.client_ca,
                 "PEM CA: require client certificates signed by it (mutual TLS)")
      ->envname("TUNER_TLS_CLIENT_CA");
  app.add_option("--metrics-listen", options.metrics_listen,
                 "serve Prometheus metrics on http://HOST:PORT/metrics (off by default)")
      ->envname("TUNER_METRICS_LISTEN");
  app.add_option("--max-connections", options.max_connections,
                 "gRPC connections at once (counted as file descriptors over those open at "
                 "start); more are closed at once")
      ->envname("TUNER_MAX_CONNECTIONS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--handshake-timeout-seconds", options.handshake_timeout_seconds,
                 "a connection that does not complete the HTTP/2 (and TLS) handshake in this "
                 "time is closed")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--connection-idle-seconds", options.connection_idle_seconds,
                 "a gRPC connection with no call for this long is closed (GOAWAY)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--port-file", port_file,
                 "write the port actually listened on to this file (useful with port 0)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("TUNER_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // An explicitly empty token (`--token ""`, e.g. from an unset shell variable) would turn
  // auth off; say so instead, unless asked for. No --token at all keeps the local default.
  if (token_option->count() > 0 && options.auth_token.empty() && !insecure_no_token) {
    std::cerr << "tuner-server: --token is empty, which would let anyone use this server; "
                 "give a token (--token-file preferred), or --insecure-no-token to run "
                 "without one\n";
    return 2;
  }
  if (insecure_no_token && (!options.auth_token.empty() || !token_file.empty())) {
    std::cerr << "tuner-server: give --insecure-no-token or a token, not both\n";
    return 2;
  }
  if (!token_file.empty()) {
    if (!options.auth_token.empty()) {
      std::cerr << "tuner-server: give --token or --token-file, not both\n";
      return 2;
    }
    auto token = tuner::ReadTokenFile(token_file);
    if (!token.ok()) {
      std::cerr << "tuner-server: --token-file: " << token.status().message() << "\n";
      return 2;
    }
    options.auth_token = *token;
  }
  RaiseOpenFileLimit();
  auto server = tuner::server::TunerServer::Start(options);
  if (!server.ok()) {
    std::cerr << "tuner-server: " << server.status().message() << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    const absl::Status written =
        tuner::WriteFileAtomically(port_file, std::to_string((*server)->port()) + "\n");
    if (!written.ok()) {
      std::cerr << "tuner-server: --port-file: " << written.message() << "\n";
      return 1;
    }
  }
  // Graceful shutdown on SIGINT/SIGTERM: parked long-polls are answered, commits drained.
  boost::asio::signal_set signals((*server)->io(), SIGINT, SIGTERM);
  tuner::server::TunerServer* raw = server->get();
  signals.async_wait([raw](const boost::system::error_code& error, int signal) {
    if (error) return;
    spdlog::info("signal {} received", signal);
    std::thread([raw] { raw->Shutdown(); }).detach();
  });
  (*server)->Wait();
  (*server)->Shutdown();
  return 0;
}
