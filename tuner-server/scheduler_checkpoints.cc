// Scheduler: checkpoint metadata (the files are the CheckpointStore's). An upload is recorded
// under the lease it was made with and bound to that lease's trial: CompleteTrial takes only
// its own trial's checkpoints, a download only those of the trial (or the ensemble job's
// members) its lease covers. What is kept: a trial's newest checkpoints_per_trial uploads and
// the one it recorded (the rung it may be promoted from); once a trial is finished only the
// one it recorded, and that only when its study keeps checkpoints or an unfinished ensemble job
// evaluates it. The rest is deleted: the row first (a commit), then the file.
//
// Thread-safety: public methods take mu_; answers go out after it is released or from the
// commit's callback.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "tuner-server/request_validation.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

using search::TrialState;

bool Finished(TrialState state) {
  return state == TrialState::kCompleted || state == TrialState::kPruned ||
         state == TrialState::kFailed;
}

}  // namespace

void Scheduler::AddCheckpoint(const v1::Lease& lease, const storage::CheckpointRow& row,
                              Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  // The upload may have taken minutes: the lease it began with must still hold.
  absl::StatusOr<HeldLease> held = HoldLease(ValidateTrialLease(lease), lease, LeaseOf::kTrial,
                                             LeaseUse::kLook, "UploadCheckpoint");
  if (!held.ok()) return replies.Add(std::move(done), held.status());
  // In memory only once the row is durable; a failed commit records nothing (kDrop: the row
  // is not re-applied later, so the upload may remove its file).
  Commit({row}, [this, row, done = std::move(done)](const absl::Status& status) {
    if (!status.ok()) {
      done(status);
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      checkpoints_[row.id] = row;
      std::vector<storage::CheckpointRow> own;
      for (const auto& [id, other] : checkpoints_) {
        if (other.trial_id == row.trial_id) own.push_back(other);
      }
      std::sort(own.begin(), own.end(), [](const auto& a, const auto& b) {
        return std::tie(a.created_at, a.epoch) > std::tie(b.created_at, b.epoch);
      });
      std::string recorded;
      if (auto it = trial_index_.find(row.trial_id); it != trial_index_.end()) {
        recorded = FindStudy(it->second.first)->extra[it->second.second].checkpoint_id;
      }
      std::vector<storage::CheckpointRow> superseded;
      const size_t keep = static_cast<size_t>(std::max(1, options_.checkpoints_per_trial));
      for (size_t i = keep; i < own.size(); ++i) {
        if (own[i].id != recorded && own[i].id != row.id) superseded.push_back(own[i]);
      }
      if (!superseded.empty()) {
        spdlog::info("trial {}: {} older checkpoint(s) deleted (it keeps its newest {})",
                     row.trial_id, superseded.size(), keep);
        DeleteCheckpoints(std::move(superseded));
      }
    }
    done(absl::OkStatus());
  }, storage::GroupCommitter::OnFailure::kDrop);
}

absl::StatusOr<storage::CheckpointRow> Scheduler::FindCheckpoint(
    const v1::DownloadCheckpointRequest& request) {
  const v1::Lease& lease = request.lease();
  if (absl::Status valid = ValidateAnyLease(lease); !valid.ok()) return valid;
  if (request.worker_id() != 0 && request.worker_id() != lease.worker_id()) {
    return absl::InvalidArgumentError(absl::StrCat("worker_id: ", request.worker_id(),
                                                   " is not the lease's worker ",
                                                   lease.worker_id()));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HeldLease> held =
      HoldLease(absl::OkStatus(), lease, LeaseOf::kEither, LeaseUse::kLook, "DownloadCheckpoint");
  if (!held.ok()) return held.status();
  std::set<int64_t> allowed;  // trial ids the lease may read
  if (held->ensemble) {
    allowed.insert(held->ensemble->members.begin(), held->ensemble->members.end());
  } else {
    allowed.insert(lease.trial_id());
  }
  auto it = checkpoints_.find(request.checkpoint_id());
  if (it == checkpoints_.end()) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", request.checkpoint_id(), " not found"));
  }
  if (!allowed.count(it->second.trial_id)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "checkpoint ", it->second.id, " belongs to trial ", it->second.trial_id,
        ", which the lease does not cover (",
        lease.ensemble_id() != 0 ? absl::StrCat("ensemble ", lease.ensemble_id())
                                 : absl::StrCat("trial ", lease.trial_id()),
        ")"));
  }
  return it->second;
}

void Scheduler::CollectCheckpoints() {
  absl::MutexLock lock(&mu_);
  if (checkpoints_.empty()) return;
  std::set<int64_t> evaluated;  // members of unfinished ensemble jobs
  for (const auto& [id, ensemble] : ensembles_) {
    if (ensemble.state == v1::ENSEMBLE_PENDING || ensemble.state == v1::ENSEMBLE_RUNNING) {
      evaluated.insert(ensemble.members.begin(), ensemble.members.end());
    }
  }
  for (const auto& [id, ensemble] : ensembles_creating_) {
    evaluated.insert(ensemble.members.begin(), ensemble.members.end());
  }
  std::vector<storage::CheckpointRow> unneeded;
  for (const auto& [id, row] : checkpoints_) {
    auto it = trial_index_.find(row.trial_id);
    if (it != trial_index_.end()) {
      const StudyEntry& study = studies_.at(it->second.first);
      const int64_t number = it->second.second;
      if (!Finished(study.history[number].state)) continue;
      const bool recorded = study.extra[number].checkpoint_id == id;
      if (recorded && (study.spec.keep_checkpoints || evaluated.count(row.trial_id))) continue;
    }
    unneeded.push_back(row);
  }
  if (unneeded.empty()) return;
  spdlog::info("{} checkpoint(s) no trial, promotion or ensemble needs are deleted",
               unneeded.size());
  DeleteCheckpoints(std::move(unneeded));
}

std::vector<storage::CheckpointRow> Scheduler::Checkpoints() {
  absl::MutexLock lock(&mu_);
  std::vector<storage::CheckpointRow> rows;
  for (const auto& [id, row] : checkpoints_) rows.push_back(row);
  return rows;
}

void Scheduler::DeleteCheckpoints(std::vector<storage::CheckpointRow> rows) {
  Ops ops;
  for (const storage::CheckpointRow& row : rows) {
    checkpoints_.erase(row.id);
    ops.push_back(storage::CheckpointDeletion{row.id});
  }
  Commit(std::move(ops), [this, rows = std::move(rows)](const absl::Status& status) {
    if (!status.ok()) {
      // The rows stay in the db: the next start-up collects them again.
      spdlog::warn("deleting {} checkpoint row(s) failed: {}", rows.size(), status.ToString());
      return;
    }
    if (!options_.remove_checkpoint) return;
    for (const storage::CheckpointRow& row : rows) options_.remove_checkpoint(row);
  });
}

}  // namespace tuner::server
