// Scheduler: the WorkerService side (leases, reports, completions) and the timers.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "search/median_pruner.h"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/lease_token.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

using search::TrialState;

uint64_t TrialSeed(uint64_t study_seed, int64_t number) {
  uint64_t z = study_seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(number + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) >> 1;  // fits an int64 for clients that lack uint64
}

absl::Status ValidateLeaseFields(const v1::Lease& lease) {
  if (lease.trial_id() <= 0) return absl::InvalidArgumentError("lease.trial_id: must be > 0");
  if (lease.attempt() <= 0) return absl::InvalidArgumentError("lease.attempt: must be > 0");
  return absl::OkStatus();
}

absl::Status ValidateMetrics(const google::protobuf::Map<std::string, double>& metrics,
                             const char* field) {
  if (metrics.size() > 64) return absl::InvalidArgumentError(absl::StrCat(field, ": at most 64"));
  for (const auto& [name, value] : metrics) {
    if (name.empty() || name.size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": metric names must have 1 to 64 characters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

bool AllIn(const std::string& text, const char* extra) {
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr(extra, c) == nullptr) {
      return false;
    }
  }
  return true;
}

// Worker names and devices end up in logs, the db and terminal tables: a small charset.
absl::Status ValidateWorkerIdentity(const v1::RegisterWorkerRequest& request) {
  if (request.name().empty() || request.name().size() > 256 || !AllIn(request.name(), "._:@/-")) {
    return absl::InvalidArgumentError(
        "name: must have 1 to 256 characters from A-Z a-z 0-9 . _ : @ / -");
  }
  if (request.host().size() > 256) {
    return absl::InvalidArgumentError("host: at most 256 characters");
  }
  for (char c : request.host()) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError("host: printable ASCII characters only");
    }
  }
  if (request.devices_size() > 64) {
    return absl::InvalidArgumentError("devices: at most 64");
  }
  for (const std::string& device : request.devices()) {
    if (device.empty() || device.size() > 64 || !AllIn(device, ":._-")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "devices: \"", TruncateUtf8(device, 64),
          "\" is not a device name (1 to 64 characters from A-Z a-z 0-9 : . _ -)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void Scheduler::RegisterWorker(const v1::RegisterWorkerRequest& request,
                               v1::RegisterWorkerResponse* response, Done done) {
  if (absl::Status valid = ValidateWorkerIdentity(request); !valid.ok()) {
    done(valid);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  const double now = Now();
  storage::WorkerRow* row = nullptr;
  for (auto& [id, worker] : workers_) {
    if (worker.name == request.name()) row = &worker;
  }
  if (row == nullptr) {
    if (static_cast<int64_t>(workers_.size()) >= options_.max_workers) {
      done(absl::ResourceExhaustedError(absl::StrCat(
          "name: this server already knows ", workers_.size(),
          " workers (its limit); reuse a worker name")));
      return;
    }
    const int64_t id = next_worker_id_++;
    row = &workers_[id];
    row->id = id;
    row->registered_at = now;
  }
  row->name = request.name();
  row->host = request.host();
  row->devices_json =
      nlohmann::json(std::vector<std::string>(request.devices().begin(), request.devices().end()))
          .dump();
  row->last_seen_at = now;
  response->set_worker_id(row->id);
  response->set_lease_seconds(options_.lease_seconds);
  spdlog::info("worker {} \"{}\" registered from {}", row->id, row->name, row->host);
  Commit({*row}, std::move(done));
}

bool Scheduler::TryLease(int64_t worker_id, bool accepts_ensembles,
                         v1::AcquireTrialResponse* response, Ops& ops) {
  // Ensembles first: they are short and a person is waiting for them.
  if (accepts_ensembles && TryLeaseEnsemble(worker_id, response, ops)) return true;
  if (studies_.empty()) return false;
  // Round-robin over running studies so one big study does not starve the others.
  auto start = studies_.upper_bound(round_robin_);
  for (size_t visited = 0; visited < studies_.size(); ++visited, ++start) {
    if (start == studies_.end()) start = studies_.begin();
    StudyEntry& study = start->second;
    if (study.row.state != "STUDY_RUNNING") continue;
    if (study.pending.empty()) Advance(study, 1, ops);
    if (study.pending.empty()) continue;
    const int64_t number = *study.pending.begin();
    search::TrialRecord& record = study.history[number];
    TrialExtra& extra = study.extra[number];
    absl::StatusOr<std::string> token = NewToken();
    if (!token.ok()) {
      spdlog::error("study {} trial {}: not leased: {}", study.row.id, extra.id,
                    token.status().ToString());
      return false;
    }
    const double now = Now();
    SetState(study, number, TrialState::kRunning);
    extra.attempt++;
    extra.worker_id = worker_id;
    extra.lease_token = std::move(*token);
    extra.lease_deadline = now + options_.lease_seconds;
    if (extra.started_at == 0) extra.started_at = now;
    Touch(study, number, ops);
    round_robin_ = study.row.id;

    response->set_has_trial(true);
    v1::Lease* lease = response->mutable_lease();
    lease->set_trial_id(extra.id);
    lease->set_attempt(extra.attempt);
    lease->set_deadline(extra.lease_deadline);
    lease->set_worker_id(worker_id);
    lease->set_token(extra.lease_token);
    response->set_study_id(study.row.id);
    response->set_trial_number(number);
    ParamsToProto(record.params, response->mutable_params());
    response->set_trainer_config_json(study.spec.trainer_json);
    response->set_objective_metric(study.spec.objective_metric);
    response->set_objective_reduce(study.spec.objective_reduce_last ? v1::REDUCE_LAST
                                                                    : v1::REDUCE_BEST);
    response->set_direction(study.spec.maximize ? v1::MAXIMIZE : v1::MINIMIZE);
    // A trial resumes from its checkpoint when it has one (a promotion, or a re-lease after
    // its rung's checkpoint was saved); otherwise it starts from scratch.
    int checkpoint_epoch = 0;
    if (auto it = checkpoints_.find(extra.checkpoint_id); it != checkpoints_.end()) {
      checkpoint_epoch = it->second.epoch;
    }
    const bool resume = checkpoint_epoch > 0 && checkpoint_epoch < record.budget_epochs;
    response->set_start_epoch(resume ? checkpoint_epoch : 0);
    response->set_resume_checkpoint_id(resume ? extra.checkpoint_id : "");
    response->set_budget_epochs(record.budget_epochs);
    response->set_executions(study.spec.executions_per_trial);
    response->set_seed(TrialSeed(study.spec.seed, number));
    response->set_save_checkpoint(study.spec.keep_checkpoints || study.policy->MayPromote(record));
    spdlog::info("study {} trial {}: leased to worker {} (attempt {}, epochs {}..{})",
                 study.row.id, extra.id, worker_id, extra.attempt, response->start_epoch() + 1,
                 record.budget_epochs);
    return true;
  }
  return false;
}

void Scheduler::AcquireTrial(const v1::AcquireTrialRequest& request,
                             v1::AcquireTrialResponse* response, Done done) {
  if (!(request.wait_seconds() >= 0) || !std::isfinite(request.wait_seconds())) {
    done(absl::InvalidArgumentError("wait_seconds: must be a finite number >= 0"));
    return;
  }
  absl::Status answer;  // sent after the lock is released
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto worker = workers_.find(request.worker_id());
    if (worker == workers_.end()) {
      answer = absl::NotFoundError(absl::StrCat("worker ", request.worker_id(),
                                                " is not registered; call RegisterWorker first"));
    } else {
      worker->second.last_seen_at = Now();
      Ops ops;
      if (!shut_down_ &&
          TryLease(request.worker_id(), request.accepts_ensembles(), response, ops)) {
        Commit(std::move(ops), std::move(done));
        return;
      }
      if (!ops.empty()) Commit(std::move(ops), nullptr);
      const double wait = std::min(request.wait_seconds(), options_.max_wait_seconds);
      if (wait > 0 && !shut_down_) {
        waiters_.push_back(Waiter{request.worker_id(), response, std::move(done), Now() + wait,
                                  request.accepts_ensembles()});
        return;
      }
      response->set_has_trial(false);
    }
  }
  done(answer);
}

bool Scheduler::CancelAcquire(const v1::AcquireTrialResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->response == response) {
      spdlog::info("worker {}: parked AcquireTrial cancelled by its client; it gets no trial",
                   it->worker_id);
      waiters_.erase(it);
      return true;
    }
  }
  return false;
}

void Scheduler::ReturnLease(const v1::Lease& lease, Done done) {
  absl::Status answer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Ops ops;
    if (lease.ensemble_id() != 0) {
      EnsembleEntry* ensemble;
      answer = FindEnsembleLease(lease, &ensemble);
      if (answer.ok()) {
        storage::EnsembleRow& row = ensemble->row;
        row.state = "ENSEMBLE_PENDING";
        row.worker_id = 0;
        row.lease_token.clear();
        ensemble->lease_deadline = 0;
        ops.push_back(row);
        spdlog::warn("study {} ensemble {}: lease (attempt {}) never reached its worker; "
                     "re-queued without counting it",
                     row.study_id, row.id, row.attempt);
      }
    } else {
      StudyEntry* study;
      int64_t number;
      answer = FindLease(lease, &study, &number, /*allow_stopped=*/false);
      if (answer.ok()) {
        TrialExtra& extra = study->extra[number];
        spdlog::warn("study {} trial {}: lease (attempt {}) never reached worker {}; re-queued "
                     "without counting it",
                     study->row.id, extra.id, extra.attempt, extra.worker_id);
        // Unlike Retry: no failed attempt is counted and no reason stored. The attempt number
        // stays spent, so lease names are never reused.
        extra.worker_id = 0;
        extra.lease_deadline = 0;
        extra.lease_token.clear();
        SetState(*study, number, TrialState::kPending);
        Touch(*study, number, ops);
      }
    }
    if (answer.ok()) {
      Commit(std::move(ops), std::move(done));
    }
  }
  if (!answer.ok()) {
    spdlog::info("undelivered lease not returned: {}", answer.ToString());
    if (done) done(answer);
    return;
  }
  ServeWaiters();
}

void Scheduler::ServeWaiters() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!waiters_.empty()) {
    Waiter& waiter = waiters_.front();
    Ops ops;
    if (!TryLease(waiter.worker_id, waiter.accepts_ensembles, waiter.response, ops)) {
      if (!ops.empty()) Commit(std::move(ops), nullptr);
      return;
    }
    Commit(std::move(ops), std::move(waiter.done));
    waiters_.pop_front();
  }
}

absl::Status Scheduler::FindLease(const v1::Lease& lease, StudyEntry** study, int64_t* number,
                                  bool allow_stopped) {
  if (auto s = ValidateLeaseFields(lease); !s.ok()) return s;
  auto it = trial_index_.find(lease.trial_id());
  if (it == trial_index_.end()) {
    return absl::NotFoundError(absl::StrCat("trial ", lease.trial_id(), " not found"));
  }
  *study = FindStudy(it->second.first);
  *number = it->second.second;
  const search::TrialRecord& record = (*study)->history[*number];
  const TrialExtra& extra = (*study)->extra[*number];
  const bool held = extra.attempt == lease.attempt();
  if (held && (record.state == TrialState::kRunning ||
               (allow_stopped && record.state == TrialState::kStopped))) {
    // The current lease: only its holder, with its token, may use it.
    return CheckLeaseHolder(
        lease, extra.worker_id, extra.lease_token,
        absl::StrCat("lease on trial ", lease.trial_id(), " attempt ", lease.attempt()));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "lease on trial ", lease.trial_id(), " attempt ", lease.attempt(),
      " is no longer held (the trial is ", TrialStateName(record.state), " at attempt ",
      extra.attempt, record.state == TrialState::kStopped ? "; its study was stopped" : "", ")"));
}

absl::Status Scheduler::CheckLease(const v1::Lease& lease) {
  std::lock_guard<std::mutex> lock(mu_);
  StudyEntry* study;
  int64_t number;
  return FindLease(lease, &study, &number, /*allow_stopped=*/false);
}

void Scheduler::Heartbeat(const v1::HeartbeatRequest& request, v1::HeartbeatResponse* response,
                          Done done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (request.lease().ensemble_id() != 0) {
    EnsembleEntry* ensemble;
    if (auto s = FindEnsembleLease(request.lease(), &ensemble); !s.ok()) {
      done(s);
      return;
    }
    ensemble->lease_deadline = Now() + options_.lease_seconds;
    response->set_deadline(ensemble->lease_deadline);
    done(absl::OkStatus());
    return;
  }
  StudyEntry* study;
  int64_t number;
  if (auto s = FindLease(request.lease(), &study, &number, /*allow_stopped=*/true); !s.ok()) {
    done(s);
    return;
  }
  TrialExtra& extra = study->extra[number];
  if (study->history[number].state == TrialState::kStopped) {
    response->set_stop(true);
    response->set_reason(absl::StrCat("study ", study->row.id, " was stopped"));
  } else {
    // Deadlines are not written to the db: after a restart every lease gets a fresh one.
    extra.lease_deadline = Now() + options_.lease_seconds;
  }
  response->set_deadline(extra.lease_deadline);
  done(absl::OkStatus());
}

void Scheduler::ReportIntermediate(const v1::ReportIntermediateRequest& request,
                                   v1::ReportIntermediateResponse* response, Done done) {
  const v1::IntermediateValue& value = request.intermediate();
  if (value.epoch() < 1) {
    done(absl::InvalidArgumentError("intermediate.epoch: must be >= 1"));
    return;
  }
  if (!std::isfinite(value.value())) {
    done(absl::InvalidArgumentError("intermediate.value: must be finite (fail the trial instead)"));
    return;
  }
  if (auto s = ValidateMetrics(value.metrics(), "intermediate.metrics"); !s.ok()) {
    done(s);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  StudyEntry* study;
  int64_t number;
  if (auto s = FindLease(request.lease(), &study, &number, /*allow_stopped=*/true); !s.ok()) {
    done(s);
    return;
  }
  const search::TrialRecord& record = study->history[number];
  if (value.execution() < 0 || value.execution() >= study->spec.executions_per_trial) {
    done(absl::InvalidArgumentError(absl::StrCat("intermediate.execution: must be in [0, ",
                                                 study->spec.executions_per_trial, ")")));
    return;
  }
  if (value.epoch() > record.budget_epochs) {
    done(absl::InvalidArgumentError(absl::StrCat("intermediate.epoch: ", value.epoch(),
                                                 " is past the lease's budget of ",
                                                 record.budget_epochs, " epochs")));
    return;
  }
  if (record.state == TrialState::kStopped) {
    response->set_stop(true);
    response->set_reason(absl::StrCat("study ", study->row.id, " was stopped"));
    done(absl::OkStatus());
    return;
  }
  TrialExtra& extra = study->extra[number];
  extra.lease_deadline = Now() + options_.lease_seconds;
  storage::IntermediateRow row;
  row.trial_id = extra.id;
  row.execution = value.execution();
  row.epoch = value.epoch();
  row.value = value.value();
  row.metrics_json = MetricsToJson({value.metrics().begin(), value.metrics().end()});
  row.reported_at = Now();
  Ops ops{row};
  AddReport(*study, number, value.execution(), value.epoch(), value.value());
  if (value.epoch() > extra.epochs_done) {
    extra.epochs_done = value.epoch();
    Touch(*study, number, ops);
  } else {
    extra.version = ++study->version;
  }
  // The pruner judges the reporting execution against the same execution of other trials.
  const search::PruneDecision prune =
      search::DecidePrune(study->spec.pruner, study->spec.maximize, study->history, number,
                          value.execution(), value.epoch());
  if (prune.prune || extra.prune_requested) {
    if (!extra.prune_requested) {
      spdlog::info("study {} trial {}: pruned at epoch {}: best value {:.6g} is worse than the median "
                   "{:.6g} of {} completed trials",
                   study->row.id, extra.id, value.epoch(), prune.value, prune.median,
                   prune.references);
    }
    extra.prune_requested = true;
    response->set_stop(true);
    response->set_reason(
        prune.prune ? absl::StrCat("pruned: best value ", prune.value, " by epoch ", value.epoch(),
                                   " is worse than the median ", prune.median, " of ",
                                   prune.references, " completed trials")
                    : "pruned at an earlier epoch");
  } else {
    response->set_stop(false);
  }
  Commit(std::move(ops), std::move(done));
}

void Scheduler::CompleteTrial(const v1::CompleteTrialRequest& request,
                              v1::CompleteTrialResponse* response, Done done) {
  if (!std::isfinite(request.value())) {
    done(absl::InvalidArgumentError("value: must be finite (fail the trial instead)"));
    return;
  }
  if (auto s = ValidateMetrics(request.metrics(), "metrics"); !s.ok()) {
    done(s);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    StudyEntry* study;
    int64_t number;
    if (auto s = FindLease(request.lease(), &study, &number, /*allow_stopped=*/false); !s.ok()) {
      done(s);
      return;
    }
    search::TrialRecord& record = study->history[number];
    TrialExtra& extra = study->extra[number];
    if (request.epochs_done() < 0 || request.epochs_done() > record.budget_epochs) {
      done(absl::InvalidArgumentError(absl::StrCat("epochs_done: must be in [0, ",
                                                   record.budget_epochs, "]")));
      return;
    }
    if (!request.checkpoint_id().empty() && !checkpoints_.count(request.checkpoint_id())) {
      done(absl::NotFoundError(
          absl::StrCat("checkpoint_id: checkpoint ", request.checkpoint_id(), " not found")));
      return;
    }
    record.value = request.value();
    extra.metrics = {request.metrics().begin(), request.metrics().end()};
    extra.epochs_done = std::max(extra.epochs_done, request.epochs_done());
    if (!request.checkpoint_id().empty()) extra.checkpoint_id = request.checkpoint_id();
    // A trial that trained its whole budget may still be promoted by its rung; one that ended
    // early (early stopping) has its final value; one the pruner stopped is PRUNED with it.
    const bool may_promote = study->policy->MayPromote(record);
    const TrialState next = extra.prune_requested ? TrialState::kPruned
                            : may_promote         ? TrialState::kPaused
                                                  : TrialState::kCompleted;
    SetState(*study, number, next);
    // extra.worker_id stays: the trial shows which worker finished it (a retry clears it).
    Ops ops;
    Touch(*study, number, ops);
    spdlog::info("study {} trial {}: {} with value {:.6g} after {} epochs", study->row.id,
                 extra.id, TrialStateName(next), request.value(), extra.epochs_done);
    Advance(*study, static_cast<int>(waiters_.size()), ops);
    response->set_state(ToProto(next));
    Commit(std::move(ops), std::move(done));
  }
  ServeWaiters();
}

void Scheduler::Retry(StudyEntry& study, int64_t number, const std::string& reason,
                      bool retryable, Ops& ops) {
  TrialExtra& extra = study.extra[number];
  extra.worker_id = 0;
  extra.lease_deadline = 0;
  extra.lease_token.clear();
  search::TrialRecord& record = study.history[number];
  if (extra.prune_requested && !record.intermediate.empty()) {
    // Told to stop and then lost: it was pruned all the same, with its last reported value.
    record.value = record.intermediate.rbegin()->second;
    SetState(study, number, TrialState::kPruned);
    Touch(study, number, ops);
    spdlog::info("study {} trial {}: PRUNED (its worker ended it: {})", study.row.id, extra.id,
                 reason);
    Advance(study, static_cast<int>(waiters_.size()), ops);
    return;
  }
  extra.retries++;
  extra.fail_reason = reason;
  const bool again = retryable && extra.retries < study.spec.max_attempts;
  SetState(study, number, again ? TrialState::kPending : TrialState::kFailed);
  Touch(study, number, ops);
  if (again) {
    spdlog::warn("study {} trial {}: re-queued after attempt {} ({})", study.row.id, extra.id,
                 extra.attempt, reason);
  } else {
    spdlog::warn("study {} trial {}: FAILED after {} attempt(s): {}", study.row.id, extra.id,
                 extra.attempt, reason);
  }
  Advance(study, static_cast<int>(waiters_.size()), ops);
}

void Scheduler::FailTrial(const v1::FailTrialRequest& request, v1::FailTrialResponse* response,
                          Done done) {
  if (request.reason().empty()) {
    done(absl::InvalidArgumentError("reason: must say why the trial failed"));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    StudyEntry* study;
    int64_t number;
    if (auto s = FindLease(request.lease(), &study, &number, /*allow_stopped=*/false); !s.ok()) {
      done(s);
      return;
    }
    Ops ops;
    Retry(*study, number, TruncateUtf8(request.reason(), kMaxFailReasonBytes), request.retryable(),
          ops);
    response->set_state(ToProto(study->history[number].state));
    Commit(std::move(ops), std::move(done));
  }
  ServeWaiters();
}

void Scheduler::AddCheckpoint(const storage::CheckpointRow& row, Done done) {
  std::lock_guard<std::mutex> lock(mu_);
  checkpoints_[row.id] = row;
  Commit({row}, std::move(done));
}

absl::StatusOr<storage::CheckpointRow> Scheduler::FindCheckpoint(const std::string& id,
                                                                 int64_t worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!workers_.count(worker_id)) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is not registered"));
  }
  auto it = checkpoints_.find(id);
  if (it == checkpoints_.end()) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", id, " not found"));
  }
  return it->second;
}

void Scheduler::Tick() {
  std::vector<Waiter> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const double now = Now();
    for (auto& [id, study] : studies_) {
      if (study.running.empty()) continue;
      std::vector<int64_t> lapsed;
      for (int64_t number : study.running) {
        if (study.extra[number].lease_deadline < now) lapsed.push_back(number);
      }
      if (lapsed.empty()) continue;
      Ops ops;
      for (int64_t number : lapsed) {
        Retry(study, number,
              absl::StrCat("lease expired: worker ", study.extra[number].worker_id,
                           " stopped heartbeating"),
              /*retryable=*/true, ops);
      }
      Commit(std::move(ops), nullptr);
    }
    ExpireEnsembleLeases(now);
    while (!waiters_.empty() && waiters_.front().deadline <= now) {
      expired.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
    }
    // Waiters are in arrival order but may have different waits; sweep the rest too.
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->deadline <= now) {
        expired.push_back(std::move(*it));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Waiter& waiter : expired) {
    waiter.response->set_has_trial(false);
    waiter.done(absl::OkStatus());
  }
  ServeWaiters();
}

void Scheduler::Shutdown() {
  std::deque<Waiter> parked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    parked.swap(waiters_);
  }
  for (Waiter& waiter : parked) {
    waiter.response->set_has_trial(false);
    waiter.done(absl::OkStatus());
  }
}

int64_t Scheduler::ParkedAcquires() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(waiters_.size());
}

}  // namespace tuner::server
