#include "trial-worker/worker_loop.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "trial-worker/trainer_factory.h"
#include "trial-worker/worker_rpc.h"

namespace tuner::worker {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string HostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "localhost";
  return host;
}

}  // namespace

WorkerLoop::WorkerLoop(WorkerOptions options)
    : WorkerLoop(options, MakeWorkerChannel(options.server_address, options.credentials, options.tls_server_name)) {}

WorkerLoop::WorkerLoop(WorkerOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)) {
  if (options_.name.empty()) options_.name = absl::StrCat(HostName(), ":", getpid());
  if (options_.devices.empty()) options_.devices = {options_.device};
  if (!options_.trainer_factory) options_.trainer_factory = MakeTrainer;
  rpc_ = std::make_unique<WorkerRpc>(std::move(channel), options_.metadata,
                                     options_.server_address, options_.initial_backoff_seconds,
                                     options_.max_backoff_seconds);
}

WorkerLoop::~WorkerLoop() {
  if (owns_work_dir_) {
    std::error_code ignored;
    std::filesystem::remove_all(options_.work_dir, ignored);
  }
}

absl::Status WorkerLoop::PrepareWorkDir() {
  std::error_code error;
  if (options_.work_dir.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path(error) / "trial-worker-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("cannot create a work dir ", pattern));
    }
    options_.work_dir = pattern;
    owns_work_dir_ = true;
    return absl::OkStatus();
  }
  std::filesystem::create_directories(options_.work_dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("--work-dir ", options_.work_dir, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status WorkerLoop::Register(const std::atomic<bool>& stop_flag,
                                  double idle_deadline_seconds) {
  const auto start = Clock::now();
  const WorkerRpc::CancelFn cancel = [&stop_flag] { return stop_flag.load(); };
  Backoff backoff(options_.initial_backoff_seconds, options_.max_backoff_seconds);
  v1::RegisterWorkerRequest request;
  request.set_name(options_.name);
  request.set_host(HostName());
  for (const std::string& device : options_.devices) request.add_devices(device);
  while (!stop_flag.load()) {
    v1::RegisterWorkerResponse response;
    const grpc::Status status = rpc_->CallOnce(
        [&](grpc::ClientContext* context, std::function<void(grpc::Status)> done) {
          rpc_->stub().async()->RegisterWorker(context, &request, &response, std::move(done));
        },
        options_.rpc_timeout_seconds, cancel);
    if (status.ok()) {
      worker_id_ = response.worker_id();
      stats_.worker_id = worker_id_;
      lease_seconds_ = response.lease_seconds() > 0 ? response.lease_seconds() : 30;
      spdlog::info("worker {}: registered with tuner-server at {} as worker {} (lease {}s)",
                   options_.name, options_.server_address, worker_id_, lease_seconds_);
      return absl::OkStatus();
    }
    if (stop_flag.load()) break;
    if (!IsTransportError(status.error_code())) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          absl::StrCat("tuner-server at ", options_.server_address,
                                       " refused the registration: ", status.error_message()));
    }
    if (idle_deadline_seconds > 0 && SecondsSince(start) >= idle_deadline_seconds) {
      return absl::UnavailableError(absl::StrCat("tuner-server at ", options_.server_address,
                                                 " unreachable for ", idle_deadline_seconds,
                                                 "s: ", status.error_message()));
    }
    const double wait = backoff.Next();
    spdlog::warn("worker {}: tuner-server at {} unreachable, retrying in {:.1f}s ({})",
                 options_.name, options_.server_address, wait, status.error_message());
    SleepUnlessCancelled(wait, cancel);
  }
  return absl::OkStatus();
}

absl::Status WorkerLoop::Run(const std::atomic<bool>& stop_flag) {
  if (auto s = PrepareWorkDir(); !s.ok()) return s;
  if (auto s = Register(stop_flag, options_.idle_exit_seconds); !s.ok()) return s;
  const WorkerRpc::CancelFn cancel = [&stop_flag] { return stop_flag.load(); };
  Backoff backoff(options_.initial_backoff_seconds, options_.max_backoff_seconds);
  auto last_work = Clock::now();
  int handled = 0;
  while (!stop_flag.load()) {
    if (options_.max_trials > 0 && handled >= options_.max_trials) {
      spdlog::info("worker {}: served {} trials (--max-trials), exiting", options_.name, handled);
      break;
    }
    double wait = options_.wait_seconds;
    if (options_.idle_exit_seconds > 0) {
      const double left = options_.idle_exit_seconds - SecondsSince(last_work);
      if (left <= 0) {
        spdlog::info("worker {}: no trial for {}s (--idle-exit), exiting", options_.name,
                     options_.idle_exit_seconds);
        break;
      }
      wait = std::min(wait, left);
    }
    v1::AcquireTrialRequest request;
    request.set_worker_id(worker_id_);
    request.set_wait_seconds(wait);
    request.set_accepts_ensembles(true);
    v1::AcquireTrialResponse response;
    const grpc::Status status = rpc_->CallOnce(
        [&](grpc::ClientContext* context, std::function<void(grpc::Status)> done) {
          rpc_->stub().async()->AcquireTrial(context, &request, &response, std::move(done));
        },
        wait + options_.rpc_timeout_seconds, cancel);
    if (stop_flag.load()) break;
    if (status.ok()) {
      backoff.Reset();
      if (response.has_ensemble_job()) {
        RunEnsemble(response.ensemble_job(), stop_flag);
        last_work = Clock::now();
        continue;
      }
      if (!response.has_trial()) continue;
      RunTrial(response, stop_flag);
      ++handled;
      last_work = Clock::now();
      continue;
    }
    const grpc::StatusCode code = status.error_code();
    if (code == grpc::StatusCode::NOT_FOUND) {
      // The server no longer knows this worker id (e.g. a fresh db): register again.
      spdlog::warn("worker {}: {}; registering again", options_.name, status.error_message());
      if (auto s = Register(stop_flag, options_.idle_exit_seconds); !s.ok()) return s;
      continue;
    }
    if (code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED) {
      return absl::Status(static_cast<absl::StatusCode>(code),
                          absl::StrCat("tuner-server at ", options_.server_address,
                                       " refused AcquireTrial: ", status.error_message()));
    }
    const double retry_in = backoff.Next();
    if (IsTransportError(code)) {
      spdlog::warn("worker {}: tuner-server at {} unreachable, retrying in {:.1f}s ({})",
                   options_.name, options_.server_address, retry_in, status.error_message());
    } else {
      spdlog::error("worker {}: AcquireTrial failed (code {}): {}; retrying in {:.1f}s",
                    options_.name, static_cast<int>(code), status.error_message(), retry_in);
    }
    SleepUnlessCancelled(retry_in, cancel);
  }
  spdlog::info("worker {}: stopped ({} completed, {} failed, {} dropped)", options_.name,
               stats_.trials_completed, stats_.trials_failed, stats_.trials_dropped);
  return absl::OkStatus();
}

absl::StatusOr<Trainer*> WorkerLoop::TrainerFor(const std::string& kind) {
  auto it = trainers_.find(kind);
  if (it != trainers_.end()) return it->second.get();
  absl::StatusOr<std::unique_ptr<Trainer>> made = options_.trainer_factory(kind);
  if (!made.ok()) return made.status();
  Trainer* trainer = made->get();
  trainers_[kind] = std::move(*made);
  return trainer;
}

}  // namespace tuner::worker
