// Scheduler: top-k ensembles. CreateEnsemble picks a study's k best COMPLETED trials (they
// must have checkpoints); a worker that accepts ensembles leases the job through AcquireTrial,
// keeps it with Heartbeat, and ends it with CompleteEnsemble or FailEnsemble. The job's lease
// is a LeaseTable lease like a trial's: the same grant, check, expiry (ExpireLeases) and
// retries up to the study's max_attempts.
//
// Thread-safety: public methods take mu_; answers decided under it go out after it is
// released (Replies); answers that wait for the commit go out from its callback.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/request_validation.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

constexpr size_t kMaxEnsemblesPerStudy = 1000;

}  // namespace

storage::EnsembleRow Scheduler::EnsembleRowOf(const EnsembleEntry& ensemble) const {
  return EnsembleRowOf(ensemble, leases_.Get(EnsembleKey(ensemble.row.id)));
}

storage::EnsembleRow Scheduler::EnsembleRowOf(const EnsembleEntry& ensemble,
                                              const LeaseRecord& lease) {
  storage::EnsembleRow row = ensemble.row;
  row.state = v1::EnsembleState_Name(ensemble.state);
  row.attempt = lease.attempt;
  row.retries = lease.retries;
  row.worker_id = lease.worker_id;
  row.lease_token = lease.token;
  return row;
}

void Scheduler::FillEnsemble(const EnsembleEntry& ensemble, v1::Ensemble* out) const {
  const storage::EnsembleRow& row = ensemble.row;
  const LeaseRecord& lease = leases_.Get(EnsembleKey(row.id));
  out->set_ensemble_id(row.id);
  out->set_study_id(row.study_id);
  out->set_k(row.k);
  out->set_state(ensemble.state);
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
  out->set_attempt(lease.attempt);
  if (auto it = workers_.find(lease.worker_id); it != workers_.end()) {
    out->set_worker_name(it->second.name);
  }
  out->set_fail_reason(row.fail_reason);
  out->set_created_at(row.created_at);
  out->set_finished_at(row.finished_at);
}

void Scheduler::CreateEnsemble(const v1::CreateEnsembleRequest& request, v1::Ensemble* response,
                               Done done) {
  if (absl::Status valid = ValidateCreateEnsemble(request); !valid.ok()) {
    done(valid);
    return;
  }
  {
    Replies replies;
    absl::MutexLock lock(&mu_);
    StudyEntry* study = FindStudy(request.study_id());
    if (!study) {
      return replies.Add(std::move(done), absl::NotFoundError(absl::StrCat(
                                              "study ", request.study_id(), " not found")));
    }
    if (study->spec.trainer_kind != "torch") {
      return replies.Add(
          std::move(done),
          absl::FailedPreconditionError(absl::StrCat(
              "study ", study->row.id, " uses trainer.kind ", study->spec.trainer_kind,
              ", which has no models to evaluate; ensembles need trainer.kind torch")));
    }
    std::vector<int64_t> completed;
    for (const search::TrialRecord& record : study->history) {
      if (record.state == search::TrialState::kCompleted && record.value) {
        completed.push_back(record.number);
      }
    }
    if (static_cast<int64_t>(completed.size()) < request.k()) {
      return replies.Add(std::move(done), absl::FailedPreconditionError(absl::StrCat(
                                              "k: study ", study->row.id, " has ",
                                              completed.size(),
                                              " COMPLETED trial(s), fewer than k = ", request.k())));
    }
    size_t of_study = 0;
    for (const auto& [id, ensemble] : ensembles_) {
      of_study += ensemble.row.study_id == study->row.id;
    }
    for (const auto& [id, ensemble] : ensembles_creating_) {
      of_study += ensemble.row.study_id == study->row.id;
    }
    if (of_study >= kMaxEnsemblesPerStudy) {
      return replies.Add(std::move(done), absl::ResourceExhaustedError(absl::StrCat(
                                              "study ", study->row.id, " already has ", of_study,
                                              " ensembles (the limit)")));
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
      return replies.Add(
          std::move(done),
          absl::FailedPreconditionError(absl::StrCat(
              "trial(s) ", absl::StrJoin(missing, ", "), " of study ", study->row.id,
              " have no checkpoint to evaluate; set keep_checkpoints: true in the study spec "
              "(docs/spec.md) so every finished trial keeps its final checkpoint")));
    }
    // In ensembles_ (and leasable) only once its row committed (kDrop): a refused call leaves
    // no job.
    const int64_t id = next_ensemble_id_++;
    EnsembleEntry& ensemble = ensembles_creating_[id];
    ensemble.row.id = id;
    ensemble.row.study_id = study->row.id;
    ensemble.row.k = request.k();
    ensemble.row.member_trial_ids_json = nlohmann::json(members).dump();
    ensemble.state = v1::ENSEMBLE_PENDING;
    ensemble.row.created_at = Now();
    ensemble.members = std::move(members);
    Commit(
        {EnsembleRowOf(ensemble, LeaseRecord{})},
        [this, id, response, done = std::move(done)](const absl::Status& status) {
          {
            absl::MutexLock lock(&mu_);
            auto node = ensembles_creating_.extract(id);
            if (status.ok() && !node.empty()) {
              EnsembleEntry& ensemble = ensembles_[id] = std::move(node.mapped());
              leases_.Add(EnsembleKey(id));
              spdlog::info("study {} ensemble {}: created from the {} best trials",
                           ensemble.row.study_id, id, ensemble.row.k);
              FillEnsemble(ensemble, response);
            } else if (!status.ok()) {
              spdlog::warn("ensemble {}: not created, its row did not commit: {}", id,
                           status.ToString());
            }
          }
          done(status);
          if (status.ok()) ServeWaiters();
        },
        storage::GroupCommitter::OnFailure::kDrop);
  }
}

absl::Status Scheduler::ListEnsembles(const v1::ListEnsemblesRequest& request,
                                      v1::ListEnsemblesResponse* response) {
  absl::MutexLock lock(&mu_);
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
                                 Ops& lease_ops) {
  for (auto& [id, ensemble] : ensembles_) {
    if (ensemble.state != v1::ENSEMBLE_PENDING) continue;
    const StudyEntry* study = FindStudy(ensemble.row.study_id);
    if (study == nullptr) continue;
    absl::StatusOr<v1::Lease> lease = leases_.Grant(EnsembleKey(id), worker_id, Now());
    if (!lease.ok()) {
      spdlog::error("ensemble {}: not leased: {}", id, lease.status().ToString());
      return false;
    }
    ensemble.state = v1::ENSEMBLE_RUNNING;
    lease_ops.push_back(EnsembleRowOf(ensemble));

    response->set_has_trial(false);
    v1::EnsembleJob* job = response->mutable_ensemble_job();
    *job->mutable_lease() = *std::move(lease);
    job->set_study_id(ensemble.row.study_id);
    v1::Ensemble view;
    FillEnsemble(ensemble, &view);
    for (v1::EnsembleMember& member : *view.mutable_members()) {
      *job->add_members() = std::move(member);
    }
    job->set_trainer_config_json(study->spec.trainer_json);
    spdlog::info("study {} ensemble {}: leased to worker {} (attempt {}, {} members)",
                 ensemble.row.study_id, id, worker_id, job->lease().attempt(),
                 ensemble.members.size());
    return true;
  }
  return false;
}

absl::Status Scheduler::FindEnsembleLease(const v1::Lease& lease, EnsembleEntry** ensemble) {
  auto it = ensembles_.find(lease.ensemble_id());
  if (it == ensembles_.end()) {
    return absl::NotFoundError(absl::StrCat("ensemble ", lease.ensemble_id(), " not found"));
  }
  *ensemble = &it->second;
  const v1::EnsembleState state = it->second.state;
  return leases_.Check(EnsembleKey(lease.ensemble_id()), lease, state == v1::ENSEMBLE_RUNNING,
                       v1::EnsembleState_Name(state), "");
}

void Scheduler::CompleteEnsemble(const v1::CompleteEnsembleRequest& request,
                                 v1::Ensemble* response, Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HeldLease> held = HoldLease(ValidateCompleteEnsemble(request), request.lease(),
                                             LeaseOf::kEnsemble, LeaseUse::kEnd,
                                             "CompleteEnsemble");
  if (!held.ok()) return replies.Add(std::move(done), held.status());
  EnsembleEntry* ensemble = held->ensemble;
  if (static_cast<size_t>(request.member_test_accuracies_size()) != ensemble->members.size()) {
    return replies.Add(std::move(done),
                       absl::InvalidArgumentError(absl::StrCat(
                           "member_test_accuracies: has ", request.member_test_accuracies_size(),
                           " values; the ensemble has ", ensemble->members.size(), " members")));
  }
  // Staged: the job stays RUNNING (its lease committing_) until the row committed.
  EnsembleSnapshot before = SaveEnsemble(*ensemble);
  ensemble->member_accuracies.assign(request.member_test_accuracies().begin(),
                                     request.member_test_accuracies().end());
  storage::EnsembleRow& row = ensemble->row;
  ensemble->state = v1::ENSEMBLE_COMPLETED;
  row.test_accuracy = request.test_accuracy();
  row.member_accuracies_json = nlohmann::json(ensemble->member_accuracies).dump();
  row.test_images = request.test_images();
  row.fail_reason.clear();
  row.finished_at = Now();
  // Like a completed trial's: off the clock, its holder kept (the ensemble shows who ran it).
  leases_.StopClock(EnsembleKey(row.id));
  spdlog::info("study {} ensemble {}: COMPLETED with test accuracy {:.4f} on {} images",
               row.study_id, row.id, request.test_accuracy(), request.test_images());
  Ops ops{EnsembleRowOf(*ensemble)};
  const int64_t id = row.id;
  EnsembleSnapshot after = UnstageEnsemble(*ensemble, std::move(before));
  CommitEnsembleEnd(id, "CompleteEnsemble", std::move(after), response, std::move(ops),
                    std::move(done));
}

void Scheduler::RetryEnsemble(EnsembleEntry& ensemble, const std::string& reason,
                              bool retryable, Ops& ops) {
  storage::EnsembleRow& row = ensemble.row;
  const StudyEntry* study = FindStudy(row.study_id);
  const int max_attempts = study ? study->spec.max_attempts : 3;
  const bool again = leases_.Retry(EnsembleKey(row.id), retryable, max_attempts);
  row.fail_reason = reason;
  ensemble.state = again ? v1::ENSEMBLE_PENDING : v1::ENSEMBLE_FAILED;
  if (!again) row.finished_at = Now();
  ops.push_back(EnsembleRowOf(ensemble));
  spdlog::warn("study {} ensemble {}: {} after attempt {} ({})", row.study_id, row.id,
               again ? "re-queued" : "FAILED", leases_.Get(EnsembleKey(row.id)).attempt, reason);
}

void Scheduler::FailEnsemble(const v1::FailEnsembleRequest& request, v1::Ensemble* response,
                             Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HeldLease> held = HoldLease(ValidateFailEnsemble(request), request.lease(),
                                             LeaseOf::kEnsemble, LeaseUse::kEnd, "FailEnsemble");
  if (!held.ok()) return replies.Add(std::move(done), held.status());
  EnsembleEntry* ensemble = held->ensemble;
  // Staged like CompleteEnsemble's.
  EnsembleSnapshot before = SaveEnsemble(*ensemble);
  Ops ops;
  RetryEnsemble(*ensemble, TruncateUtf8(request.reason(), kMaxFailReasonBytes),
                request.retryable(), ops);
  const int64_t id = ensemble->row.id;
  EnsembleSnapshot after = UnstageEnsemble(*ensemble, std::move(before));
  CommitEnsembleEnd(id, "FailEnsemble", std::move(after), response, std::move(ops),
                    std::move(done));
}

}  // namespace tuner::server
