// Scheduler: top-k ensembles. CreateEnsemble picks a study's k best COMPLETED trials (they
// must have checkpoints); a worker that accepts ensembles leases the job through AcquireTrial,
// keeps it with Heartbeat, and ends it with CompleteEnsemble or FailEnsemble. Expired leases
// are re-queued like a trial's, up to the study's max_attempts.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/lease_token.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

constexpr int kMaxEnsembleK = 100;
constexpr size_t kMaxEnsemblesPerStudy = 1000;

v1::EnsembleState EnsembleStateFromName(const std::string& name) {
  v1::EnsembleState state = v1::ENSEMBLE_STATE_UNSPECIFIED;
  v1::EnsembleState_Parse(name, &state);
  return state;
}

// The members and accuracies of a stored row; DATA_LOSS saying what is wrong with it.
absl::Status ParseEnsembleRow(const storage::EnsembleRow& row, std::vector<int64_t>* members,
                              std::vector<double>* accuracies_out) {
  if (EnsembleStateFromName(row.state) == v1::ENSEMBLE_STATE_UNSPECIFIED) {
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

absl::Status Scheduler::LoadEnsembles(const std::vector<storage::EnsembleRow>& rows, double now) {
  for (const storage::EnsembleRow& row : rows) {
    // A corrupt row is left out with an error naming it, and the server starts: an ensemble is
    // derived from its study's trials and can be created again. Its id is not reused.
    next_ensemble_id_ = std::max(next_ensemble_id_, row.id + 1);
    EnsembleEntry entry;
    entry.row = row;
    if (absl::Status s = ParseEnsembleRow(row, &entry.members, &entry.member_accuracies);
        !s.ok()) {
      spdlog::error("study {}: ensemble {} left out: its db row is corrupt: {}", row.study_id,
                    row.id, std::string(s.message()));
      continue;
    }
    // Like a trial's: a worker that outlived the server keeps the job if it heartbeats in time
    // (with its token from the db; a lease older than tokens gets one nobody knows).
    if (row.state == "ENSEMBLE_RUNNING") {
      entry.lease_deadline = now + options_.lease_seconds;
      if (entry.row.lease_token.empty()) {
        absl::StatusOr<std::string> token = NewToken();
        if (!token.ok()) return token.status();
        entry.row.lease_token = std::move(*token);
      }
    }
    ensembles_[row.id] = std::move(entry);
  }
  return absl::OkStatus();
}

void Scheduler::FillEnsemble(const EnsembleEntry& ensemble, v1::Ensemble* out) const {
  const storage::EnsembleRow& row = ensemble.row;
  out->set_ensemble_id(row.id);
  out->set_study_id(row.study_id);
  out->set_k(row.k);
  out->set_state(EnsembleStateFromName(row.state));
  for (size_t i = 0; i < ensemble.members.size(); ++i) {
    v1::EnsembleMember* member = out->add_members();
    member->set_trial_id(ensemble.members[i]);
    auto it = trial_index_.find(ensemble.members[i]);
    if (it != trial_index_.end()) {
      const StudyEntry& study = studies_.at(it->second.first);
      const search::TrialRecord& record = study.history[it->second.second];
      member->set_trial_number(record.number);
      ParamsToProto(record.params, member->mutable_params());
      member->set_checkpoint_id(study.extra[it->second.second].checkpoint_id);
      if (record.value) member->set_value(*record.value);
    }
    if (i < ensemble.member_accuracies.size()) {
      member->set_has_test_accuracy(true);
      member->set_test_accuracy(ensemble.member_accuracies[i]);
    }
  }
  out->set_has_test_accuracy(row.test_accuracy.has_value());
  if (row.test_accuracy) out->set_test_accuracy(*row.test_accuracy);
  out->set_test_images(row.test_images);
  out->set_attempt(row.attempt);
  if (auto it = workers_.find(row.worker_id); it != workers_.end()) {
    out->set_worker_name(it->second.name);
  }
  out->set_fail_reason(row.fail_reason);
  out->set_created_at(row.created_at);
  out->set_finished_at(row.finished_at);
}

void Scheduler::CreateEnsemble(const v1::CreateEnsembleRequest& request, v1::Ensemble* response,
                               Done done) {
  if (request.k() < 1 || request.k() > kMaxEnsembleK) {
    done(absl::InvalidArgumentError(
        absl::StrCat("k: must be between 1 and ", kMaxEnsembleK, " (got ", request.k(), ")")));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    StudyEntry* study = FindStudy(request.study_id());
    if (!study) {
      done(absl::NotFoundError(absl::StrCat("study ", request.study_id(), " not found")));
      return;
    }
    if (study->spec.trainer_kind != "torch") {
      done(absl::FailedPreconditionError(absl::StrCat(
          "study ", study->row.id, " uses trainer.kind ", study->spec.trainer_kind,
          ", which has no models to evaluate; ensembles need trainer.kind torch")));
      return;
    }
    std::vector<int64_t> completed;
    for (const search::TrialRecord& record : study->history) {
      if (record.state == search::TrialState::kCompleted && record.value) {
        completed.push_back(record.number);
      }
    }
    if (static_cast<int64_t>(completed.size()) < request.k()) {
      done(absl::FailedPreconditionError(absl::StrCat(
          "k: study ", study->row.id, " has ", completed.size(),
          " COMPLETED trial(s), fewer than k = ", request.k())));
      return;
    }
    size_t of_study = 0;
    for (const auto& [id, ensemble] : ensembles_) {
      of_study += ensemble.row.study_id == study->row.id;
    }
    if (of_study >= kMaxEnsemblesPerStudy) {
      done(absl::ResourceExhaustedError(absl::StrCat(
          "study ", study->row.id, " already has ", of_study, " ensembles (the limit)")));
      return;
    }
    const bool maximize = study->spec.maximize;
    std::stable_sort(completed.begin(), completed.end(), [&](int64_t a, int64_t b) {
      return search::Better(*study->history[a].value, *study->history[b].value, maximize);
    });
    completed.resize(static_cast<size_t>(request.k()));
    std::vector<std::string> missing;
    std::vector<int64_t> members;
    for (int64_t number : completed) {
      const TrialExtra& extra = study->extra[number];
      members.push_back(extra.id);
      if (!checkpoints_.count(extra.checkpoint_id)) {
        missing.push_back(absl::StrCat(extra.id, " (number ", number, ")"));
      }
    }
    if (!missing.empty()) {
      done(absl::FailedPreconditionError(absl::StrCat(
          "trial(s) ", absl::StrJoin(missing, ", "), " of study ", study->row.id,
          " have no checkpoint to evaluate; set keep_checkpoints: true in the study spec "
          "(docs/spec.md) so every finished trial keeps its final checkpoint")));
      return;
    }
    EnsembleEntry& ensemble = ensembles_[next_ensemble_id_];
    ensemble.row.id = next_ensemble_id_++;
    ensemble.row.study_id = study->row.id;
    ensemble.row.k = request.k();
    ensemble.row.member_trial_ids_json = nlohmann::json(members).dump();
    ensemble.row.state = "ENSEMBLE_PENDING";
    ensemble.row.created_at = Now();
    ensemble.members = std::move(members);
    spdlog::info("study {} ensemble {}: created from the {} best trials", study->row.id,
                 ensemble.row.id, request.k());
    FillEnsemble(ensemble, response);
    Commit({ensemble.row}, std::move(done));
  }
  ServeWaiters();
}

absl::Status Scheduler::ListEnsembles(const v1::ListEnsemblesRequest& request,
                                      v1::ListEnsemblesResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!FindStudy(request.study_id())) {
    return absl::NotFoundError(absl::StrCat("study ", request.study_id(), " not found"));
  }
  for (const auto& [id, ensemble] : ensembles_) {
    if (ensemble.row.study_id == request.study_id()) {
      FillEnsemble(ensemble, response->add_ensembles());
    }
  }
  return absl::OkStatus();
}

bool Scheduler::TryLeaseEnsemble(int64_t worker_id, v1::AcquireTrialResponse* response,
                                 Ops& ops) {
  for (auto& [id, ensemble] : ensembles_) {
    if (ensemble.row.state != "ENSEMBLE_PENDING") continue;
    const StudyEntry* study = FindStudy(ensemble.row.study_id);
    if (study == nullptr) continue;
    absl::StatusOr<std::string> token = NewToken();
    if (!token.ok()) {
      spdlog::error("ensemble {}: not leased: {}", id, token.status().ToString());
      return false;
    }
    const double now = Now();
    ensemble.row.state = "ENSEMBLE_RUNNING";
    ensemble.row.attempt++;
    ensemble.row.worker_id = worker_id;
    ensemble.row.lease_token = std::move(*token);
    ensemble.lease_deadline = now + options_.lease_seconds;
    ops.push_back(ensemble.row);

    response->set_has_trial(false);
    v1::EnsembleJob* job = response->mutable_ensemble_job();
    job->mutable_lease()->set_ensemble_id(id);
    job->mutable_lease()->set_attempt(ensemble.row.attempt);
    job->mutable_lease()->set_deadline(ensemble.lease_deadline);
    job->mutable_lease()->set_worker_id(worker_id);
    job->mutable_lease()->set_token(ensemble.row.lease_token);
    job->set_study_id(ensemble.row.study_id);
    v1::Ensemble view;
    FillEnsemble(ensemble, &view);
    for (v1::EnsembleMember& member : *view.mutable_members()) {
      *job->add_members() = std::move(member);
    }
    job->set_trainer_config_json(study->spec.trainer_json);
    spdlog::info("study {} ensemble {}: leased to worker {} (attempt {}, {} members)",
                 ensemble.row.study_id, id, worker_id, ensemble.row.attempt,
                 ensemble.members.size());
    return true;
  }
  return false;
}

absl::Status Scheduler::FindEnsembleLease(const v1::Lease& lease, EnsembleEntry** ensemble) {
  if (lease.ensemble_id() <= 0) {
    return absl::InvalidArgumentError("lease.ensemble_id: must be > 0");
  }
  if (lease.attempt() <= 0) return absl::InvalidArgumentError("lease.attempt: must be > 0");
  auto it = ensembles_.find(lease.ensemble_id());
  if (it == ensembles_.end()) {
    return absl::NotFoundError(absl::StrCat("ensemble ", lease.ensemble_id(), " not found"));
  }
  *ensemble = &it->second;
  const storage::EnsembleRow& row = it->second.row;
  if (row.attempt == lease.attempt() && row.state == "ENSEMBLE_RUNNING") {
    return CheckLeaseHolder(lease, row.worker_id, row.lease_token,
                            absl::StrCat("lease on ensemble ", lease.ensemble_id(), " attempt ",
                                         lease.attempt()));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "lease on ensemble ", lease.ensemble_id(), " attempt ", lease.attempt(),
      " is no longer held (the ensemble is ", row.state, " at attempt ", row.attempt, ")"));
}

void Scheduler::CompleteEnsemble(const v1::CompleteEnsembleRequest& request,
                                 v1::Ensemble* response, Done done) {
  const auto is_fraction = [](double x) { return std::isfinite(x) && x >= 0 && x <= 1; };
  if (!is_fraction(request.test_accuracy())) {
    done(absl::InvalidArgumentError("test_accuracy: must be a number in [0, 1]"));
    return;
  }
  for (double accuracy : request.member_test_accuracies()) {
    if (!is_fraction(accuracy)) {
      done(absl::InvalidArgumentError("member_test_accuracies: each must be a number in [0, 1]"));
      return;
    }
  }
  if (request.test_images() < 1) {
    done(absl::InvalidArgumentError("test_images: must be >= 1"));
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  EnsembleEntry* ensemble;
  if (auto s = FindEnsembleLease(request.lease(), &ensemble); !s.ok()) {
    done(s);
    return;
  }
  if (static_cast<size_t>(request.member_test_accuracies_size()) != ensemble->members.size()) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "member_test_accuracies: has ", request.member_test_accuracies_size(),
        " values; the ensemble has ", ensemble->members.size(), " members")));
    return;
  }
  ensemble->member_accuracies.assign(request.member_test_accuracies().begin(),
                                     request.member_test_accuracies().end());
  storage::EnsembleRow& row = ensemble->row;
  row.state = "ENSEMBLE_COMPLETED";
  row.test_accuracy = request.test_accuracy();
  row.member_accuracies_json = nlohmann::json(ensemble->member_accuracies).dump();
  row.test_images = request.test_images();
  row.fail_reason.clear();
  row.finished_at = Now();
  row.lease_token.clear();
  ensemble->lease_deadline = 0;
  spdlog::info("study {} ensemble {}: COMPLETED with test accuracy {:.4f} on {} images",
               row.study_id, row.id, request.test_accuracy(), request.test_images());
  FillEnsemble(*ensemble, response);
  Commit({row}, std::move(done));
}

void Scheduler::RetryEnsemble(EnsembleEntry& ensemble, const std::string& reason,
                              bool retryable, Ops& ops) {
  storage::EnsembleRow& row = ensemble.row;
  const StudyEntry* study = FindStudy(row.study_id);
  const int max_attempts = study ? study->spec.max_attempts : 3;
  row.retries++;
  row.fail_reason = reason;
  row.lease_token.clear();
  ensemble.lease_deadline = 0;
  const bool again = retryable && row.retries < max_attempts;
  row.state = again ? "ENSEMBLE_PENDING" : "ENSEMBLE_FAILED";
  if (!again) row.finished_at = Now();
  ops.push_back(row);
  spdlog::warn("study {} ensemble {}: {} after attempt {} ({})", row.study_id, row.id,
               again ? "re-queued" : "FAILED", row.attempt, reason);
}

void Scheduler::FailEnsemble(const v1::FailEnsembleRequest& request, v1::Ensemble* response,
                             Done done) {
  if (request.reason().empty()) {
    done(absl::InvalidArgumentError("reason: must say why the ensemble failed"));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    EnsembleEntry* ensemble;
    if (auto s = FindEnsembleLease(request.lease(), &ensemble); !s.ok()) {
      done(s);
      return;
    }
    Ops ops;
    RetryEnsemble(*ensemble, TruncateUtf8(request.reason(), kMaxFailReasonBytes),
                  request.retryable(), ops);
    FillEnsemble(*ensemble, response);
    Commit(std::move(ops), std::move(done));
  }
  ServeWaiters();
}

void Scheduler::ExpireEnsembleLeases(double now) {
  Ops ops;
  for (auto& [id, ensemble] : ensembles_) {
    if (ensemble.row.state != "ENSEMBLE_RUNNING" || ensemble.lease_deadline >= now) continue;
    RetryEnsemble(ensemble,
                  absl::StrCat("lease expired: worker ", ensemble.row.worker_id,
                               " stopped heartbeating"),
                  /*retryable=*/true, ops);
  }
  if (!ops.empty()) Commit(std::move(ops), nullptr);
}

}  // namespace tuner::server
