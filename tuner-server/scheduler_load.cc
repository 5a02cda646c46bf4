// Scheduler: the state rebuilt from the db at start-up (Load). Studies get their policy back
// from their spec, trials their record and lease (a RUNNING trial's lease gets a fresh
// deadline, so a worker that outlived the server keeps it by heartbeating in time), the
// policies their intermediate values; workers, checkpoints and ensemble jobs as stored. A
// corrupt ensembles row is left out with an error; anything else the db cannot give back
// whole stops the start-up with DATA_LOSS.
//
// Thread-safety: Load takes mu_ (it runs before the server serves, but the analysis does not
// know that); the readers' db under reader_mu_.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

using search::TrialState;

size_t Index(TrialState state) { return static_cast<size_t>(state); }

// The members and accuracies of a stored row; DATA_LOSS saying what is wrong with it.
absl::Status ParseEnsembleRow(const storage::EnsembleRow& row, v1::EnsembleState* state,
                              std::vector<int64_t>* members,
                              std::vector<double>* accuracies_out) {
  if (!v1::EnsembleState_Parse(row.state, state) || *state == v1::ENSEMBLE_STATE_UNSPECIFIED) {
    return absl::DataLossError(absl::StrCat("state \"", row.state, "\" is not an ensemble state"));
  }
  nlohmann::json ids = nlohmann::json::parse(row.member_trial_ids_json, nullptr, false);
  if (!ids.is_array()) {
    return absl::DataLossError(absl::StrCat("member_trial_ids_json is not a JSON array: ",
                                            TruncateUtf8(row.member_trial_ids_json, 64)));
  }
  for (const auto& id : ids) {
    if (!id.is_number_integer()) {
      return absl::DataLossError(absl::StrCat("member_trial_ids_json holds ", id.type_name(),
                                              " where a trial id belongs"));
    }
    members->push_back(id.get<int64_t>());
  }
  nlohmann::json accuracies = nlohmann::json::parse(row.member_accuracies_json, nullptr, false);
  if (!accuracies.is_array()) {
    return absl::DataLossError(absl::StrCat("member_accuracies_json is not a JSON array: ",
                                            TruncateUtf8(row.member_accuracies_json, 64)));
  }
  for (const auto& a : accuracies) {
    if (!a.is_number()) {
      return absl::DataLossError(absl::StrCat("member_accuracies_json holds ", a.type_name(),
                                              " where an accuracy belongs"));
    }
    accuracies_out->push_back(a.get<double>());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Scheduler::Load(const storage::Snapshot& snapshot,
                             const std::vector<storage::CheckpointRow>& checkpoints) {
  absl::MutexLock lock(&mu_);
  const double now = Now();
  for (const storage::StudyRow& row : snapshot.studies) {
    absl::StatusOr<search::StudySpec> spec = search::ParseStudySpec(row.spec_yaml);
    if (!spec.ok()) {
      return absl::DataLossError(absl::StrCat("study ", row.id, " has a spec this build refuses: ",
                                              spec.status().message()));
    }
    auto policy = search::MakePolicy(*spec);
    if (!policy.ok()) return policy.status();
    StudyEntry& study = studies_[row.id];
    study.row = row;
    if (!v1::StudyState_Parse(row.state, &study.state) ||
        study.state == v1::STUDY_STATE_UNSPECIFIED) {
      // What every earlier build made of a state it did not know: not running, shown STOPPED.
      spdlog::warn("study {}: state \"{}\" is not a study state; taken as STUDY_STOPPED", row.id,
                   TruncateUtf8(row.state, 64));
      study.state = v1::STUDY_STOPPED;
    }
    study.spec = std::move(*spec);
    study.policy = std::move(*policy);
    if (!row.request_id.empty()) study_by_request_[row.request_id] = row.id;
    next_study_id_ = std::max(next_study_id_, row.id + 1);
  }
  for (const storage::TrialRow& row : snapshot.trials) {
    StudyEntry* study = FindStudy(row.study_id);
    if (study == nullptr) {
      return absl::DataLossError(absl::StrCat("trial ", row.id, " names missing study ", row.study_id));
    }
    if (row.number != static_cast<int64_t>(study->history.size())) {
      return absl::DataLossError(absl::StrCat("study ", row.study_id, " is missing trial number ",
                                              study->history.size()));
    }
    auto state = ParseTrialState(row.state);
    if (!state) return absl::DataLossError(absl::StrCat("trial ", row.id, " has state ", row.state));
    auto params = ParamsFromJson(row.params_json);
    if (!params.ok()) return params.status();
    search::TrialRecord record;
    record.number = row.number;
    record.params = std::move(*params);
    record.state = *state;
    record.value = row.value;
    record.bracket = row.bracket;
    record.rung = row.rung;
    record.budget_epochs = row.budget_epochs;
    TrialExtra extra;
    extra.id = row.id;
    extra.metrics = MetricsFromJson(row.metrics_json);
    extra.epochs_done = row.epochs_done;
    // Workers that outlived the server keep their trials if they heartbeat in time, with the
    // token they were given (it is in the db).
    const bool running = *state == TrialState::kRunning;
    if (running && row.lease_token.empty()) {
      // Leased by a server older than lease tokens (schema 2): its worker cannot prove it
      // holds the lease, so the lease gets a token nobody knows, runs out and is re-queued.
      spdlog::warn("study {} trial {}: RUNNING without a lease token (leased before the "
                   "upgrade); it is re-queued when its lease runs out",
                   row.study_id, row.id);
    }
    LeaseRecord lease;
    lease.attempt = row.attempt;
    lease.retries = row.retries;
    lease.worker_id = row.worker_id;
    lease.token = row.lease_token;
    if (absl::Status s = leases_.Restore(TrialKey(row.id), std::move(lease), running, now);
        !s.ok()) {
      return s;
    }
    extra.checkpoint_id = row.checkpoint_id;
    extra.fail_reason = row.fail_reason;
    extra.created_at = row.created_at;
    extra.started_at = row.started_at;
    extra.finished_at = row.finished_at;
    study->history.push_back(std::move(record));
    study->extra.push_back(std::move(extra));
    study->counts[Index(*state)]++;
    if (*state == TrialState::kPending) study->pending.insert(row.number);
    if (running) study->running.insert(row.number);
    trial_index_[row.id] = {row.study_id, row.number};
    next_trial_id_ = std::max(next_trial_id_, row.id + 1);
  }
  // The policies and the pruner read intermediate values from memory.
  for (auto& [id, study] : studies_) {
    absl::StatusOr<std::vector<storage::IntermediateRow>> rows;
    {
      absl::MutexLock reader_lock(&reader_mu_);
      rows = reader_->LoadStudyIntermediates(id);
    }
    if (!rows.ok()) return rows.status();
    for (const storage::IntermediateRow& row : *rows) {
      auto it = trial_index_.find(row.trial_id);
      if (it == trial_index_.end() || it->second.first != id) continue;
      AddReport(study, it->second.second, row.execution, row.epoch, row.value);
    }
  }
  for (const storage::WorkerRow& row : snapshot.workers) {
    workers_[row.id] = row;
    next_worker_id_ = std::max(next_worker_id_, row.id + 1);
  }
  for (const storage::CheckpointRow& row : checkpoints) checkpoints_[row.id] = row;
  if (absl::Status s = LoadEnsembles(snapshot.ensembles, now); !s.ok()) return s;
  spdlog::info("loaded {} studies, {} trials, {} workers, {} checkpoints from the db",
               snapshot.studies.size(), snapshot.trials.size(), snapshot.workers.size(),
               checkpoints.size());
  return absl::OkStatus();
}

absl::Status Scheduler::LoadEnsembles(const std::vector<storage::EnsembleRow>& rows, double now) {
  for (const storage::EnsembleRow& row : rows) {
    // A corrupt row is left out with an error naming it, and the server starts: an ensemble is
    // derived from its study's trials and can be created again. Its id is not reused.
    next_ensemble_id_ = std::max(next_ensemble_id_, row.id + 1);
    EnsembleEntry entry;
    entry.row = row;
    if (absl::Status s =
            ParseEnsembleRow(row, &entry.state, &entry.members, &entry.member_accuracies);
        !s.ok()) {
      spdlog::error("study {}: ensemble {} left out: its db row is corrupt: {}", row.study_id,
                    row.id, std::string(s.message()));
      continue;
    }
    // Like a trial's: a worker that outlived the server keeps the job if it heartbeats in time
    // (with its token from the db; a lease older than tokens gets one nobody knows).
    LeaseRecord lease;
    lease.attempt = row.attempt;
    lease.retries = row.retries;
    lease.worker_id = row.worker_id;
    lease.token = row.lease_token;
    if (absl::Status s = leases_.Restore(EnsembleKey(row.id), std::move(lease),
                                         entry.state == v1::ENSEMBLE_RUNNING, now);
        !s.ok()) {
      return s;
    }
    ensembles_[row.id] = std::move(entry);
  }
  return absl::OkStatus();
}

}  // namespace tuner::server
