#include "trial-worker/trial_session.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace tuner::worker {
namespace {

bool IsLeaseRefusal(grpc::StatusCode code) {
  return code == grpc::StatusCode::FAILED_PRECONDITION || code == grpc::StatusCode::NOT_FOUND;
}

}  // namespace

TrialSession::TrialSession(const WorkerRpc& rpc, const v1::Lease& lease, std::string tag,
                           double lease_seconds, double rpc_timeout_seconds,
                           const std::atomic<bool>& shutdown)
    : rpc_(rpc),
      lease_(lease),
      tag_(std::move(tag)),
      lease_seconds_(lease_seconds),
      rpc_timeout_seconds_(rpc_timeout_seconds),
      shutdown_(shutdown) {}

TrialSession::~TrialSession() { StopHeartbeat(); }

void TrialSession::StartHeartbeat() {
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

void TrialSession::StopHeartbeat() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    heartbeat_done_ = true;
  }
  heartbeat_cancel_ = true;
  cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void TrialSession::SetStopReason(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_reason_.empty()) stop_reason_ = why;
}

std::string TrialSession::stop_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_reason_.empty() && shutdown_.load()) return "the trial-worker is shutting down";
  return stop_reason_;
}

absl::Status TrialSession::report_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return report_error_;
}

void TrialSession::LoseLease(const std::string& why) {
  if (!lease_lost_.exchange(true)) {
    SetStopReason(absl::StrCat("lease lost: ", why));
    spdlog::warn("{}: lease (attempt {}) lost: {}", tag_, lease_.attempt(), why);
  }
  stop_ = true;
}

void TrialSession::HeartbeatLoop() {
  const auto interval = std::chrono::duration<double>(std::max(lease_seconds_ / 3, 0.05));
  const WorkerRpc::CancelFn cancel = [this] { return heartbeat_cancel_.load(); };
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, interval, [this] { return heartbeat_done_; })) return;
    }
    v1::HeartbeatRequest request;
    *request.mutable_lease() = lease_;
    v1::HeartbeatResponse response;
    const grpc::Status status = rpc_.CallOnce(
        [&](grpc::ClientContext* context, std::function<void(grpc::Status)> done) {
          rpc_.stub().async()->Heartbeat(context, &request, &response, std::move(done));
        },
        std::min(interval.count(), rpc_timeout_seconds_), cancel);
    if (status.ok()) {
      if (response.stop()) {
        study_stopped_ = true;
        stop_ = true;
        SetStopReason(absl::StrCat("heartbeat answered stop: ", response.reason()));
        spdlog::info("{}: heartbeat answered stop ({})", tag_, response.reason());
        return;
      }
      continue;
    }
    if (heartbeat_cancel_.load()) return;
    if (IsLeaseRefusal(status.error_code())) {
      LoseLease(status.error_message());
      return;
    }
    // The server keeps leases across restarts: keep heartbeating while it is away.
    spdlog::warn("{}: heartbeat failed ({}): {}", tag_, static_cast<int>(status.error_code()),
                 status.error_message());
  }
}

bool TrialSession::ReportEpoch(const EpochReport& report) {
  if (StopRequested()) return false;
  v1::ReportIntermediateRequest request;
  *request.mutable_lease() = lease_;
  v1::IntermediateValue* value = request.mutable_intermediate();
  value->set_execution(report.execution);
  value->set_epoch(report.epoch);
  value->set_value(report.value);
  for (const auto& [name, metric] : report.metrics) (*value->mutable_metrics())[name] = metric;
  v1::ReportIntermediateResponse response;
  const grpc::Status status = rpc_.Call(
      tag_, "ReportIntermediate",
      [&](grpc::ClientContext* context, std::function<void(grpc::Status)> done) {
        rpc_.stub().async()->ReportIntermediate(context, &request, &response, std::move(done));
      },
      rpc_timeout_seconds_, lease_seconds_, [this] { return StopRequested(); });
  if (status.ok()) {
    reports_sent_++;
    spdlog::debug("{}: execution {} epoch {} value {:.6g}", tag_, report.execution,
                  report.epoch, report.value);
    if (response.stop()) {
      pruned_ = true;
      stop_ = true;
      SetStopReason(absl::StrCat("report answered stop: ", response.reason()));
      spdlog::info("{}: stop after epoch {} ({})", tag_, report.epoch, response.reason());
      return false;
    }
    return true;
  }
  if (StopRequested()) return false;  // cancelled by a stop from elsewhere
  if (IsLeaseRefusal(status.error_code())) {
    LoseLease(status.error_message());
  } else if (IsTransportError(status.error_code())) {
    LoseLease(absl::StrCat("tuner-server unreachable for ", lease_seconds_,
                           "s while reporting: ", status.error_message()));
  } else {
    {
      std::lock_guard<std::mutex> lock(mu_);
      report_error_ = absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                   absl::StrCat("tuner-server refused the report of epoch ",
                                                report.epoch, ": ", status.error_message()));
    }
    SetStopReason("report refused");
    stop_ = true;
    spdlog::error("{}: report of epoch {} refused: {}", tag_, report.epoch,
                  status.error_message());
  }
  return false;
}

}  // namespace tuner::worker
