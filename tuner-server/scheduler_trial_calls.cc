// Scheduler: the calls a worker makes on a trial it holds the lease of. Each names the lease
// (trial id, attempt, worker id, token); HoldLease (scheduler_commits.cc) checks the request,
// finds the trial (FindLease) and asks the LeaseTable whether the lease still holds. Heartbeat and ReportIntermediate renew it (and say stop when
// the study was stopped or the pruner decided so); CompleteTrial ends it well (the trial is
// COMPLETED, PAUSED at its rung for a promotion, or PRUNED); FailTrial ends it badly (Retry,
// scheduler_trials.cc). Checkpoint metadata: scheduler_checkpoints.cc. ReportIntermediate,
// CompleteTrial and FailTrial change the trial only once their rows committed (row 5).
//
// Thread-safety: public methods take mu_; answers decided under it go out after it is
// released (Replies); answers that wait for the commit go out from its callback.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "search/median_pruner.h"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/request_validation.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

using search::TrialState;

}  // namespace

absl::Status Scheduler::FindLease(const v1::Lease& lease, StudyEntry** study, int64_t* number,
                                  bool allow_stopped) {
  auto it = trial_index_.find(lease.trial_id());
  if (it == trial_index_.end()) {
    return absl::NotFoundError(absl::StrCat("trial ", lease.trial_id(), " not found"));
  }
  *study = FindStudy(it->second.first);
  *number = it->second.second;
  const TrialState state = (*study)->history[*number].state;
  return leases_.Check(TrialKey(lease.trial_id()), lease,
                       state == TrialState::kRunning ||
                           (allow_stopped && state == TrialState::kStopped),
                       TrialStateName(state),
                       state == TrialState::kStopped ? "; its study was stopped" : "");
}

absl::Status Scheduler::CheckLease(const v1::Lease& lease) {
  absl::MutexLock lock(&mu_);
  return HoldLease(ValidateTrialLease(lease), lease, LeaseOf::kTrial, LeaseUse::kLook,
                   "UploadCheckpoint").status();
}

void Scheduler::Heartbeat(const v1::HeartbeatRequest& request, v1::HeartbeatResponse* response,
                          Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HeldLease> held = HoldLease(ValidateAnyLease(request.lease()), request.lease(),
                                             LeaseOf::kEither, LeaseUse::kRenew, "Heartbeat");
  if (!held.ok()) return replies.Add(std::move(done), held.status());
  if (held->ensemble) {
    response->set_deadline(leases_.Renew(EnsembleKey(held->ensemble->row.id), Now()));
    return replies.Add(std::move(done), absl::OkStatus());
  }
  StudyEntry* study = held->study;
  const int64_t number = held->number;
  const LeaseKey key = TrialKey(study->extra[number].id);
  if (study->history[number].state == TrialState::kStopped) {
    response->set_stop(true);
    response->set_reason(absl::StrCat("study ", study->row.id, " was stopped"));
    response->set_deadline(leases_.Get(key).deadline);
  } else {
    // Deadlines are not written to the db: after a restart every lease gets a fresh one.
    response->set_deadline(leases_.Renew(key, Now()));
  }
  replies.Add(std::move(done), absl::OkStatus());
}

void Scheduler::ReportIntermediate(const v1::ReportIntermediateRequest& request,
                                   v1::ReportIntermediateResponse* response, Done done) {
  const v1::IntermediateValue& value = request.intermediate();
  Replies replies;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HeldLease> held = HoldLease(ValidateReportIntermediate(request),
                                             request.lease(), LeaseOf::kTrial, LeaseUse::kReport,
                                             "ReportIntermediate");
  if (!held.ok()) return replies.Add(std::move(done), held.status());
  StudyEntry* study = held->study;
  const int64_t number = held->number;
  const search::TrialRecord& record = study->history[number];
  if (value.execution() < 0 || value.execution() >= study->spec.executions_per_trial) {
    return replies.Add(std::move(done), absl::InvalidArgumentError(absl::StrCat(
                                            "intermediate.execution: must be in [0, ",
                                            study->spec.executions_per_trial, ")")));
  }
  if (value.epoch() > record.budget_epochs) {
    return replies.Add(std::move(done),
                       absl::InvalidArgumentError(absl::StrCat(
                           "intermediate.epoch: ", value.epoch(), " is past the lease's budget of ",
                           record.budget_epochs, " epochs")));
  }
  if (record.state == TrialState::kStopped) {
    response->set_stop(true);
    response->set_reason(absl::StrCat("study ", study->row.id, " was stopped"));
    return replies.Add(std::move(done), absl::OkStatus());
  }
  const TrialExtra& extra = study->extra[number];
  storage::IntermediateRow row;
  row.trial_id = extra.id;
  row.execution = value.execution();
  row.epoch = value.epoch();
  row.value = value.value();
  row.metrics_json = MetricsToJson({value.metrics().begin(), value.metrics().end()});
  row.reported_at = Now();
  Ops ops{row};
  if (value.epoch() > extra.epochs_done) {
    storage::TrialRow trial = ToRow(*study, number);
    trial.epochs_done = value.epoch();
    ops.push_back(std::move(trial));
  }
  // The value, the renewed lease and the pruner's answer once the rows committed (kDrop).
  ++reporting_[extra.id];
  Commit(
      std::move(ops),
      [this, lease = request.lease(), value, response,
       done = std::move(done)](const absl::Status& status) {
        {
          absl::MutexLock lock(&mu_);
          FinishReport(lease, value, response, status);
        }
        done(status);
      },
      storage::GroupCommitter::OnFailure::kDrop);
}

void Scheduler::FinishReport(const v1::Lease& lease, const v1::IntermediateValue& value,
                             v1::ReportIntermediateResponse* response,
                             const absl::Status& status) {
  auto reporting = reporting_.find(lease.trial_id());
  if (reporting != reporting_.end() && --reporting->second == 0) reporting_.erase(reporting);
  auto it = trial_index_.find(lease.trial_id());
  StudyEntry* study = it == trial_index_.end() ? nullptr : FindStudy(it->second.first);
  if (!status.ok() || !study) return;
  const int64_t number = it->second.second;
  TrialExtra& extra = study->extra[number];
  // The db has the value now, whatever became of the lease meanwhile.
  AddReport(*study, number, value.execution(), value.epoch(), value.value());
  extra.version = ++study->version;
  const TrialState state = study->history[number].state;
  const bool held = (state == TrialState::kRunning || state == TrialState::kStopped) &&
                    leases_.Get(TrialKey(extra.id)).attempt == lease.attempt();
  // The report's trial row is the trial's last one unless its lease ended meanwhile (it
  // expired: the re-queued row came after it, with the epochs it had).
  if (held) extra.epochs_done = std::max(extra.epochs_done, value.epoch());
  if (state == TrialState::kStopped) {
    response->set_stop(true);
    response->set_reason(absl::StrCat("study ", study->row.id, " was stopped"));
    return;
  }
  if (!held) return;  // its next call hears that the lease is no longer held
  leases_.Renew(TrialKey(extra.id), Now());
  // The pruner judges the reporting execution against the same execution of other trials.
  const search::PruneDecision prune =
      search::DecidePrune(study->spec.pruner, study->spec.maximize, study->history, number,
                          value.execution(), value.epoch());
  if (prune.prune || extra.prune_requested) {
    if (!extra.prune_requested) {
      spdlog::info("study {} trial {}: pruned at epoch {}: best value {:.6g} is worse than the "
                   "median {:.6g} of {} completed trials",
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
}

void Scheduler::CompleteTrial(const v1::CompleteTrialRequest& request,
                              v1::CompleteTrialResponse* response, Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HeldLease> held = HoldLease(ValidateCompleteTrial(request), request.lease(),
                                             LeaseOf::kTrial, LeaseUse::kEnd, "CompleteTrial");
  if (!held.ok()) return replies.Add(std::move(done), held.status());
  StudyEntry* study = held->study;
  const int64_t number = held->number;
  search::TrialRecord& record = study->history[number];
  TrialExtra& extra = study->extra[number];
  if (request.epochs_done() < 0 || request.epochs_done() > record.budget_epochs) {
    return replies.Add(std::move(done), absl::InvalidArgumentError(absl::StrCat(
                                            "epochs_done: must be in [0, ", record.budget_epochs,
                                            "]")));
  }
  if (!request.checkpoint_id().empty()) {
    auto checkpoint = checkpoints_.find(request.checkpoint_id());
    if (checkpoint == checkpoints_.end()) {
      return replies.Add(std::move(done), absl::NotFoundError(absl::StrCat(
                                              "checkpoint_id: checkpoint ",
                                              request.checkpoint_id(), " not found")));
    }
    // A checkpoint is bound to the trial it was uploaded for.
    if (checkpoint->second.trial_id != extra.id) {
      return replies.Add(std::move(done),
                         absl::PermissionDeniedError(absl::StrCat(
                             "checkpoint_id: checkpoint ", request.checkpoint_id(),
                             " belongs to trial ", checkpoint->second.trial_id, ", not to trial ",
                             extra.id)));
    }
  }
  // Staged: the trial stays RUNNING (its lease committing_) until the row committed.
  TrialSnapshot before = SaveTrial(*study, number);
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
  // The lease stops expiring; its holder stays: the trial shows which worker finished it.
  leases_.StopClock(TrialKey(extra.id));
  Ops ops;
  Touch(*study, number, ops);
  std::string applied =
      fmt::format("study {} trial {}: {} with value {:.6g} after {} epochs", study->row.id,
                  extra.id, TrialStateName(next), request.value(), extra.epochs_done);
  const int64_t trial_id = extra.id;
  TrialSnapshot after = Unstage(*study, number, std::move(before));
  response->set_state(ToProto(next));
  CommitTrialEnd(trial_id, "CompleteTrial", std::move(after), std::move(ops), std::move(applied),
                 std::move(done));
}

void Scheduler::FailTrial(const v1::FailTrialRequest& request, v1::FailTrialResponse* response,
                          Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HeldLease> held = HoldLease(ValidateFailTrial(request), request.lease(),
                                             LeaseOf::kTrial, LeaseUse::kEnd, "FailTrial");
  if (!held.ok()) return replies.Add(std::move(done), held.status());
  StudyEntry* study = held->study;
  const int64_t number = held->number;
  const int64_t trial_id = study->extra[number].id;
  // Staged like CompleteTrial's.
  TrialSnapshot before = SaveTrial(*study, number);
  Ops ops;
  Retry(*study, number, TruncateUtf8(request.reason(), kMaxFailReasonBytes), request.retryable(),
        ops);
  response->set_state(ToProto(study->history[number].state));
  TrialSnapshot after = Unstage(*study, number, std::move(before));
  CommitTrialEnd(trial_id, "FailTrial", std::move(after), std::move(ops), "", std::move(done));
}

}  // namespace tuner::server
