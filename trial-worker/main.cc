// trial-worker: leases trials from a tuner-server and trains them (see docs/worker.md).
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "common/client_security.h"
#include "common/version.h"
#include "spdlog/spdlog.h"
#include "trial-worker/trainer_factory.h"
#include "trial-worker/worker_loop.h"

namespace {

// SIGINT and SIGTERM are blocked in every thread (gRPC's included, as they inherit the mask)
// and taken by one thread with sigtimedwait, which sets stop: no async-signal handler and no
// global state.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::atomic<bool>* stop) : stop_(stop) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this] { Watch(); });
  }
  ~SignalWatcher() {
    done_ = true;
    thread_.join();
  }

 private:
  void Watch() {
    const timespec slice = {0, 100 * 1000 * 1000};
    while (!done_.load()) {
      const int signal = sigtimedwait(&signals_, nullptr, &slice);
      if (signal != SIGINT && signal != SIGTERM) continue;
      const char* name = signal == SIGINT ? "SIGINT" : "SIGTERM";
      if (stop_->exchange(true)) {
        // A second signal: the user does not want to wait for the trial to be handed back.
        spdlog::warn("{} again: exiting now; the trial's lease will expire on the server", name);
        std::_Exit(128 + signal);
      }
      spdlog::info("{}: stopping; a running trial is handed back (send again to exit at once)",
                   name);
    }
  }

  std::atomic<bool>* const stop_;
  sigset_t signals_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trial-worker: leases trials from a tuner-server, trains them and reports every "
               "epoch"};
  app.set_version_flag("--version", std::string("trial-worker ") + TUNER_VERSION);
  tuner::worker::WorkerOptions options;
  std::string device = "auto";
  std::string log_level = "info";
  app.add_option("--server", options.server_address, "tuner-server address, host:port")
      ->envname("TUNER_SERVER")
      ->required();
  app.add_option("--name", options.name, "worker name, unique per process (default host:pid)")
      ->envname("TUNER_WORKER_NAME");
  app.add_option("--device", device, "auto | cpu | cuda:N")->envname("TUNER_DEVICE");
  app.add_option("--threads", options.threads,
                 "compute threads for training, torch and BLAS together (0: the CPUs this "
                 "process may use); results depend on it")
      ->envname("TUNER_THREADS")
      ->check(CLI::Range(0, 4096));
  app.add_option("--cache-dir", options.cache_dir, "node-local cache directory")
      ->envname("TUNER_CACHE_DIR");
  app.add_option("--work-dir", options.work_dir,
                 "directory for checkpoints in transit (default: a temp dir)");
  app.add_option("--trial-log-dir", options.trial_log_dir,
                 "where the command trainer keeps each trial's stdout and stderr (default: "
                 "<work-dir>/trial-logs)")
      ->envname("TUNER_TRIAL_LOG_DIR");
  app.add_option("--max-trials", options.max_trials, "exit after N trials (0: never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--idle-exit", options.idle_exit_seconds,
                 "exit after SECONDS without a trial (0: never)")
      ->check(CLI::NonNegativeNumber);
  tuner::ClientSecurity security;
  tuner::AddClientSecurityFlags(app, security);
  app.add_option("--log-level", log_level, "trace | debug | info | warn | error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "trial-worker: " << e.what() << "\nRun with --help for the flags.\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));

  absl::StatusOr<std::string> resolved = tuner::worker::ResolveDevice(device);
  if (!resolved.ok()) {
    std::cerr << "trial-worker: " << resolved.status().message() << "\n";
    return 2;
  }
  options.device = *resolved;
  absl::StatusOr<tuner::ClientAuth> auth = tuner::ResolveClientSecurity(security);
  if (!auth.ok()) {
    std::cerr << "trial-worker: " << auth.status().message() << "\n";
    return 2;
  }
  options.credentials = auth->credentials;
  options.metadata = auth->metadata;
  options.tls_server_name = auth->tls_server_name;

  std::atomic<bool> stop{false};
  SignalWatcher watcher(&stop);  // before any gRPC thread starts
  tuner::worker::WorkerLoop loop(options);
  absl::Status status = loop.Run(stop);
  if (!status.ok()) {
    spdlog::error("worker {}: {}", loop.name(), status.ToString());
    return 1;
  }
  return 0;
}
