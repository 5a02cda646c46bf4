// Scheduler: staged changes (issue 13 row 5, nothing half-applied). A call that changes state
// is applied in memory only once the rows it writes committed; a refused call leaves nothing,
// in memory or later in the db (its rows are submitted with OnFailure::kDrop).
//
// How a change is staged: it runs on the live state (the same SetState, Retry, LeaseTable
// calls as ever) so that its rows are the ones it would write, the state is put back as it
// was (Unstage), the rows are committed, and the commit's callback installs the state the
// change left. Callbacks run in the order the commits were submitted, so memory follows the
// db's order. While an end of a lease commits (CompleteTrial, FailTrial, CompleteEnsemble,
// FailEnsemble) its lease is marked in committing_: it neither expires nor takes another end,
// and the trial stays RUNNING, so it cannot be leased again. A study whose stop commits leases
// and plans nothing; one whose enqueue commits plans nothing (the enqueued trial's number is
// the next one).
//
// The follow-ups of an installed change (the policy's plan: new trials, promotions, a study
// completed) are the server's own and go in a commit of their own, kept and re-applied if it
// fails (kRetry), as a lease's expiry is.
//
// Thread-safety: Commit* and the staging helpers are called with mu_ held; the Finish*
// callbacks take it and answer after releasing it.
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {
namespace {

using search::TrialState;

}  // namespace

Scheduler::TrialSnapshot Scheduler::SaveTrial(const StudyEntry& study, int64_t number) const {
  const TrialExtra& extra = study.extra[number];
  return TrialSnapshot{study.history[number], extra, leases_.Save(TrialKey(extra.id))};
}

void Scheduler::PutTrial(StudyEntry& study, int64_t number, TrialSnapshot snapshot) {
  SetState(study, number, snapshot.record.state);  // the study's counts and sets
  const int64_t id = snapshot.extra.id;
  study.history[number] = std::move(snapshot.record);
  study.extra[number] = std::move(snapshot.extra);
  leases_.Put(TrialKey(id), std::move(snapshot.lease));
}

Scheduler::TrialSnapshot Scheduler::Unstage(StudyEntry& study, int64_t number,
                                            TrialSnapshot before) {
  TrialSnapshot after = SaveTrial(study, number);
  PutTrial(study, number, std::move(before));
  return after;
}

Scheduler::EnsembleSnapshot Scheduler::SaveEnsemble(const EnsembleEntry& ensemble) const {
  return EnsembleSnapshot{ensemble, leases_.Save(EnsembleKey(ensemble.row.id))};
}

Scheduler::EnsembleSnapshot Scheduler::UnstageEnsemble(EnsembleEntry& ensemble,
                                                       EnsembleSnapshot before) {
  EnsembleSnapshot after = SaveEnsemble(ensemble);
  ensemble = std::move(before.entry);
  leases_.Put(EnsembleKey(ensemble.row.id), std::move(before.lease));
  return after;
}

absl::StatusOr<Scheduler::HeldLease> Scheduler::HoldLease(const absl::Status& valid,
                                                         const v1::Lease& lease, LeaseOf of,
                                                         LeaseUse use, const char* call) {
  if (!valid.ok()) return valid;
  HeldLease held;
  LeaseKey key;
  if (of == LeaseOf::kEnsemble || (of == LeaseOf::kEither && lease.ensemble_id() != 0)) {
    if (auto s = FindEnsembleLease(lease, &held.ensemble); !s.ok()) return s;
    key = EnsembleKey(lease.ensemble_id());
  } else {
    const bool allow_stopped = use == LeaseUse::kRenew || use == LeaseUse::kReport;
    if (auto s = FindLease(lease, &held.study, &held.number, allow_stopped); !s.ok()) return s;
    key = TrialKey(lease.trial_id());
  }
  if (use == LeaseUse::kReport || use == LeaseUse::kEnd) {
    auto ending = committing_.find(key);
    const char* other = ending != committing_.end() ? ending->second : nullptr;
    if (!other && use == LeaseUse::kEnd && key.kind == LeaseKind::kTrial &&
        reporting_.count(key.id)) {
      other = "ReportIntermediate";
    }
    if (other) {
      return absl::UnavailableError(absl::StrCat(
          call, ": the ", other, " on ", key.kind == LeaseKind::kTrial ? "trial " : "ensemble ",
          key.id, "'s lease is still being committed; retry once it was answered"));
    }
  }
  return held;
}

void Scheduler::StopIfStudyStopped(StudyEntry& study, int64_t number, Ops& ops) {
  if (study.state != v1::STUDY_STOPPED || IsFinal(study.history[number].state)) return;
  leases_.StopClock(TrialKey(study.extra[number].id));
  SetState(study, number, TrialState::kStopped);
  Touch(study, number, ops);
}

void Scheduler::CommitTrialEnd(int64_t trial_id, const char* call, TrialSnapshot after, Ops ops,
                               std::string applied, Done done) {
  committing_[TrialKey(trial_id)] = call;
  Commit(
      std::move(ops),
      [this, trial_id, call, after = std::move(after), applied = std::move(applied),
       done = std::move(done)](const absl::Status& status) mutable {
        {
          absl::MutexLock lock(&mu_);
          committing_.erase(TrialKey(trial_id));
          auto it = trial_index_.find(trial_id);
          StudyEntry* study = it == trial_index_.end() ? nullptr : FindStudy(it->second.first);
          if (study) {
            const int64_t number = it->second.second;
            Ops follow_ups;
            if (status.ok()) {
              PutTrial(*study, number, std::move(after));
              study->extra[number].version = ++study->version;
              if (!applied.empty()) spdlog::info("{}", applied);
              Advance(*study, static_cast<int>(waiters_.size()), follow_ups);
            } else {
              spdlog::warn("study {} trial {}: {} not applied, its row did not commit ({}); "
                           "the trial is as it was",
                           study->row.id, trial_id, call, status.ToString());
            }
            StopIfStudyStopped(*study, number, follow_ups);
            if (!follow_ups.empty()) Commit(std::move(follow_ups), nullptr);
          }
        }
        done(status);
        if (status.ok()) ServeWaiters();
      },
      storage::GroupCommitter::OnFailure::kDrop);
}

void Scheduler::CommitEnsembleEnd(int64_t ensemble_id, const char* call, EnsembleSnapshot after,
                                  v1::Ensemble* response, Ops ops, Done done) {
  committing_[EnsembleKey(ensemble_id)] = call;
  Commit(
      std::move(ops),
      [this, ensemble_id, call, after = std::move(after), response,
       done = std::move(done)](const absl::Status& status) mutable {
        {
          absl::MutexLock lock(&mu_);
          committing_.erase(EnsembleKey(ensemble_id));
          auto it = ensembles_.find(ensemble_id);
          if (it != ensembles_.end() && status.ok()) {
            it->second = std::move(after.entry);
            leases_.Put(EnsembleKey(ensemble_id), std::move(after.lease));
            FillEnsemble(it->second, response);
          } else if (it != ensembles_.end()) {
            spdlog::warn("study {} ensemble {}: {} not applied, its row did not commit ({}); "
                         "the job is as it was",
                         it->second.row.study_id, ensemble_id, call, status.ToString());
          }
        }
        done(status);
        if (status.ok()) ServeWaiters();
      },
      storage::GroupCommitter::OnFailure::kDrop);
}

void Scheduler::FinishStopStudy(int64_t study_id,
                                std::vector<std::pair<int64_t, uint64_t>> stopped,
                                double finished_at, v1::Study* response, Done done,
                                const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    StudyEntry* study = FindStudy(study_id);
    if (study) {
      --study->stops_committing;
      Ops ops;
      if (status.ok() && study->state == v1::STUDY_RUNNING) {
        // The trials the staged rows stopped, unchanged since: as those rows have them.
        std::map<int64_t, uint64_t> staged(stopped.begin(), stopped.end());
        for (size_t n = 0; n < study->history.size(); ++n) {
          const auto number = static_cast<int64_t>(n);
          TrialExtra& extra = study->extra[n];
          // A trial whose end commits: its callback stops it unless that end finished it.
          if (IsFinal(study->history[n].state) || committing_.count(TrialKey(extra.id))) continue;
          auto it = staged.find(number);
          const bool as_staged = it != staged.end() && it->second == extra.version;
          // A RUNNING trial's lease stops expiring but still holds: its worker hears "stop".
          leases_.StopClock(TrialKey(extra.id));
          SetState(*study, number, TrialState::kStopped);
          if (as_staged) {
            extra.finished_at = finished_at;
            extra.version = ++study->version;
          } else {
            Touch(*study, number, ops);  // changed since it was staged: a row of its own
          }
        }
        study->state = v1::STUDY_STOPPED;
        study->row.finished_at = finished_at;
        ++study->version;
        spdlog::info("study {} \"{}\": stopped by request", study->row.id, study->row.name);
      } else if (!status.ok()) {
        spdlog::warn("study {} \"{}\": not stopped, its rows did not commit: {}", study->row.id,
                     study->row.name, status.ToString());
        Advance(*study, static_cast<int>(waiters_.size()), ops);  // what waited for the stop
      }
      if (!ops.empty()) Commit(std::move(ops), nullptr);
      if (status.ok()) FillStudy(*study, response);
    }
  }
  done(status);
  if (!status.ok()) ServeWaiters();
}

void Scheduler::FinishEnqueue(int64_t study_id, TrialSnapshot trial,
                              v1::EnqueueTrialResponse* response, Done done,
                              const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    StudyEntry* study = FindStudy(study_id);
    if (study) {
      --study->enqueues_committing;
      Ops ops;
      if (status.ok()) {
        // Enqueues land in the order of their calls, so this is the number staged unless an
        // earlier one failed; then the trial takes the next free number, in a row of its own.
        const int64_t staged = trial.record.number;
        const int64_t number = InsertTrial(*study, trial.record, trial.extra, ops);
        if (number == staged) ops.clear();
        StopIfStudyStopped(*study, number, ops);
        FillTrial(*study, number, response->mutable_trial());
        spdlog::info("study {} trial {}: enqueued as number {} ({})", study->row.id,
                     trial.extra.id, number, ParamsToJson(study->history[number].params));
      } else {
        spdlog::warn("study {}: enqueued trial not added, its row did not commit: {}", study_id,
                     status.ToString());
      }
      Advance(*study, static_cast<int>(waiters_.size()), ops);  // what waited for the enqueue
      if (!ops.empty()) Commit(std::move(ops), nullptr);
    }
  }
  done(status);
  ServeWaiters();
}

}  // namespace tuner::server
