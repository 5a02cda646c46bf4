// Scheduler: a study's end of life (DeleteStudy). The study leaves memory only once its
// deletion committed (kDrop: a refused call deletes nothing, not even later); its checkpoint
// files go after that.
//
// Thread-safety: takes mu_; replies and file removals run after it is released.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {

void Scheduler::DeleteStudy(const v1::DeleteStudyRequest& request,
                            v1::DeleteStudyResponse* response, Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  const int64_t id = request.study_id();
  const StudyEntry* study = FindStudy(id);
  if (study == nullptr) {
    return replies.Add(std::move(done),
                       absl::NotFoundError(absl::StrCat("study ", id, " not found")));
  }
  if (study->state == v1::STUDY_RUNNING) {
    return replies.Add(std::move(done),
                       absl::FailedPreconditionError(absl::StrCat(
                           "study ", id, " is running: stop it first (tunectl stop ", id,
                           "), then delete it")));
  }
  for (const auto& [ensemble_id, ensemble] : ensembles_) {
    if (ensemble.row.study_id == id && (ensemble.state == v1::ENSEMBLE_PENDING ||
                                        ensemble.state == v1::ENSEMBLE_RUNNING)) {
      return replies.Add(std::move(done),
                         absl::FailedPreconditionError(absl::StrCat(
                             "study ", id, " has ensemble ", ensemble_id,
                             " still being evaluated: wait for it (tunectl best ", id,
                             " shows it when it ends), then delete the study")));
    }
  }
  if (!deleting_.insert(id).second) {
    return replies.Add(std::move(done),
                       absl::FailedPreconditionError(
                           absl::StrCat("study ", id, " is being deleted already")));
  }
  response->set_study_id(id);
  response->set_name(study->row.name);
  Commit({storage::StudyDeletion{id}},
         [this, id, response, done = std::move(done)](const absl::Status& status) {
           FinishDeleteStudy(id, response, done, status);
         },
         storage::GroupCommitter::OnFailure::kDrop);
}

void Scheduler::FinishDeleteStudy(int64_t id, v1::DeleteStudyResponse* response,
                                  const Done& done, const absl::Status& status) {
  std::vector<storage::CheckpointRow> files;
  {
    absl::MutexLock lock(&mu_);
    deleting_.erase(id);
    auto study = studies_.find(id);
    if (!status.ok() || study == studies_.end()) {
      spdlog::warn("study {}: not deleted, its deletion did not commit: {}", id,
                   status.ToString());
    } else {
      std::set<int64_t> trial_ids;
      for (const TrialExtra& extra : study->second.extra) {
        trial_ids.insert(extra.id);
        trial_index_.erase(extra.id);
      }
      for (auto it = checkpoints_.begin(); it != checkpoints_.end();) {
        if (trial_ids.count(it->second.trial_id)) {
          files.push_back(it->second);
          it = checkpoints_.erase(it);
        } else {
          ++it;
        }
      }
      int64_t ensembles = 0;
      for (auto it = ensembles_.begin(); it != ensembles_.end();) {
        if (it->second.row.study_id == id) {
          it = ensembles_.erase(it);
          ++ensembles;
        } else {
          ++it;
        }
      }
      for (auto it = study_by_request_.begin(); it != study_by_request_.end();) {
        it = it->second == id ? study_by_request_.erase(it) : std::next(it);
      }
      response->set_trials_deleted(static_cast<int64_t>(trial_ids.size()));
      response->set_checkpoints_deleted(static_cast<int64_t>(files.size()));
      response->set_ensembles_deleted(ensembles);
      spdlog::info("study {} \"{}\": deleted with {} trial(s), {} checkpoint(s), {} ensemble(s)",
                   id, study->second.row.name, trial_ids.size(), files.size(), ensembles);
      studies_.erase(study);
    }
  }
  if (status.ok() && options_.remove_checkpoint) {
    for (const storage::CheckpointRow& row : files) options_.remove_checkpoint(row);
  }
  done(status.ok() ? status
                   : absl::Status(status.code(), absl::StrCat("study ", id, " not deleted: ",
                                                              status.message())));
}

}  // namespace tuner::server
