// Scheduler: every change of a trial's state goes through here. SetState keeps a study's
// counts and its pending/running sets in step; Touch bumps the trial's version (WatchStudy)
// and queues its row (ToRow: the trial's record, its extra and its lease from leases_);
// Advance applies the study's policy (search/, pure) and completes the study when nothing is
// left; Retry ends a lease that ended badly (failed or expired).
//
// Thread-safety: called with mu_ held (see the annotations in scheduler.h).
#include <algorithm>

#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

using search::TrialState;

size_t Index(TrialState state) { return static_cast<size_t>(state); }

}  // namespace

void Scheduler::SetState(StudyEntry& study, int64_t number, TrialState state) {
  search::TrialRecord& record = study.history[number];
  study.counts[Index(record.state)]--;
  study.counts[Index(state)]++;
  if (record.state == TrialState::kPending) study.pending.erase(number);
  if (record.state == TrialState::kRunning) study.running.erase(number);
  if (state == TrialState::kPending) study.pending.insert(number);
  if (state == TrialState::kRunning) study.running.insert(number);
  record.state = state;
  if (IsFinal(state)) study.extra[number].finished_at = Now();
}

void Scheduler::AddReport(StudyEntry& study, int64_t number, int execution, int epoch,
                          double value) {
  search::TrialRecord& record = study.history[number];
  record.execution_values[{execution, epoch}] = value;
  double sum = 0;
  int count = 0;
  for (const auto& [key, reported] : record.execution_values) {
    if (key.second != epoch) continue;
    sum += reported;
    ++count;
  }
  record.intermediate[epoch] = sum / count;
}

void Scheduler::Touch(StudyEntry& study, int64_t number, Ops& ops) {
  study.extra[number].version = ++study.version;
  ops.push_back(ToRow(study, number));
}

storage::TrialRow Scheduler::ToRow(const StudyEntry& study, int64_t number) const {
  const TrialExtra& extra = study.extra[number];
  return ToRow(study.row.id, study.history[number], extra, leases_.Get(TrialKey(extra.id)));
}

storage::TrialRow Scheduler::ToRow(int64_t study_id, const search::TrialRecord& record,
                                   const TrialExtra& extra, const LeaseRecord& lease) {
  storage::TrialRow row;
  row.id = extra.id;
  row.study_id = study_id;
  row.number = record.number;
  row.params_json = ParamsToJson(record.params);
  row.state = TrialStateName(record.state);
  row.value = record.value;
  row.metrics_json = MetricsToJson(extra.metrics);
  row.bracket = record.bracket;
  row.rung = record.rung;
  row.budget_epochs = record.budget_epochs;
  row.epochs_done = extra.epochs_done;
  row.attempt = lease.attempt;
  row.retries = lease.retries;
  row.worker_id = lease.worker_id;
  row.lease_deadline = lease.deadline;
  row.lease_token = lease.token;
  row.checkpoint_id = extra.checkpoint_id;
  row.fail_reason = extra.fail_reason;
  row.created_at = extra.created_at;
  row.started_at = extra.started_at;
  row.finished_at = extra.finished_at;
  return row;
}

storage::StudyRow Scheduler::StudyRowOf(const StudyEntry& study) {
  storage::StudyRow row = study.row;
  row.state = v1::StudyState_Name(study.state);
  return row;
}

int64_t Scheduler::AddTrial(StudyEntry& study, search::NewTrial fresh, Ops& ops) {
  auto [record, extra] =
      NewTrialOf(static_cast<int64_t>(study.history.size()), next_trial_id_++, std::move(fresh));
  return InsertTrial(study, std::move(record), std::move(extra), ops);
}

std::pair<search::TrialRecord, Scheduler::TrialExtra> Scheduler::NewTrialOf(
    int64_t number, int64_t id, search::NewTrial fresh) const {
  search::TrialRecord record;
  record.number = number;
  record.params = std::move(fresh.params);
  record.state = TrialState::kPending;
  record.bracket = fresh.bracket;
  record.rung = fresh.rung;
  record.budget_epochs = fresh.budget_epochs;
  TrialExtra extra;
  extra.id = id;
  extra.created_at = Now();
  return {std::move(record), std::move(extra)};
}

int64_t Scheduler::InsertTrial(StudyEntry& study, search::TrialRecord record, TrialExtra extra,
                               Ops& ops) {
  const int64_t number = static_cast<int64_t>(study.history.size());
  record.number = number;
  trial_index_[extra.id] = {study.row.id, number};
  leases_.Add(TrialKey(extra.id));
  study.history.push_back(std::move(record));
  study.extra.push_back(std::move(extra));
  study.counts[Index(TrialState::kPending)]++;
  study.pending.insert(number);
  Touch(study, number, ops);
  return number;
}

bool Scheduler::MayPlan(const StudyEntry& study) {
  return study.state == v1::STUDY_RUNNING && study.stops_committing == 0 &&
         study.enqueues_committing == 0;
}

void Scheduler::Advance(StudyEntry& study, int max_new, Ops& ops) {
  // Planned later: after the stop or enqueue that commits now (their callbacks Advance).
  if (!MayPlan(study)) return;
  const int64_t active = study.counts[Index(TrialState::kPending)] +
                         study.counts[Index(TrialState::kRunning)];
  if (study.spec.max_parallel > 0) {
    max_new = static_cast<int>(std::min<int64_t>(max_new, study.spec.max_parallel - active));
  }
  search::Plan plan = study.policy->Next(study.history, std::max(max_new, 0));
  for (const search::Promotion& promotion : plan.promotions) {
    if (promotion.number < 0 || promotion.number >= static_cast<int64_t>(study.history.size()) ||
        study.history[promotion.number].state != TrialState::kPaused) {
      spdlog::error("study {}: policy promoted trial number {} that is not paused", study.row.id,
                    promotion.number);
      continue;
    }
    search::TrialRecord& record = study.history[promotion.number];
    record.rung = promotion.rung;
    record.budget_epochs = promotion.budget_epochs;
    SetState(study, promotion.number, TrialState::kPending);
    Touch(study, promotion.number, ops);
    spdlog::info("study {} trial {}: promoted to rung {} ({} epochs)", study.row.id,
                 study.extra[promotion.number].id, promotion.rung, promotion.budget_epochs);
  }
  for (int64_t number : plan.prunes) {
    if (number < 0 || number >= static_cast<int64_t>(study.history.size()) ||
        study.history[number].state != TrialState::kPaused) {
      spdlog::error("study {}: policy pruned trial number {} that is not paused", study.row.id,
                    number);
      continue;
    }
    SetState(study, number, TrialState::kPruned);
    Touch(study, number, ops);
  }
  const double now = Now();
  for (search::NewTrial& fresh : plan.new_trials) AddTrial(study, std::move(fresh), ops);
  const bool idle = study.counts[Index(TrialState::kPending)] == 0 &&
                    study.counts[Index(TrialState::kRunning)] == 0 &&
                    study.counts[Index(TrialState::kPaused)] == 0;
  if (plan.finished && idle) {
    study.state = v1::STUDY_COMPLETED;
    study.row.finished_at = now;
    ++study.version;
    ops.push_back(StudyRowOf(study));
    spdlog::info("study {} \"{}\": completed with {} trials", study.row.id, study.row.name,
                 study.history.size());
  }
}

void Scheduler::Retry(StudyEntry& study, int64_t number, const std::string& reason,
                      bool retryable, Ops& ops) {
  TrialExtra& extra = study.extra[number];
  const LeaseKey key = TrialKey(extra.id);
  // A re-queued trial shows no worker: its lease is released. A trial FAILED for good keeps
  // the worker it failed on (LeaseTable::Retry keeps the holder), as an ensemble job does.
  const int attempt = leases_.Get(key).attempt;
  search::TrialRecord& record = study.history[number];
  if (extra.prune_requested && !record.intermediate.empty()) {
    leases_.Release(key);
    // Told to stop and then lost: it was pruned all the same, with its last reported value.
    record.value = record.intermediate.rbegin()->second;
    SetState(study, number, TrialState::kPruned);
    Touch(study, number, ops);
    spdlog::info("study {} trial {}: PRUNED (its worker ended it: {})", study.row.id, extra.id,
                 reason);
    return;
  }
  const bool again = leases_.Retry(key, retryable, study.spec.max_attempts);
  if (again) leases_.Release(key);
  extra.fail_reason = reason;
  SetState(study, number, again ? TrialState::kPending : TrialState::kFailed);
  Touch(study, number, ops);
  if (again) {
    spdlog::warn("study {} trial {}: re-queued after attempt {} ({})", study.row.id, extra.id,
                 attempt, reason);
  } else {
    spdlog::warn("study {} trial {}: FAILED after {} attempt(s): {}", study.row.id, extra.id,
                 attempt, reason);
  }
}

}  // namespace tuner::server
