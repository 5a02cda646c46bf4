// Scheduler: how work reaches a worker. RegisterWorker names it; AcquireTrial leases it the
// next trial (TryLease: ensemble jobs first, then round-robin over the running studies) or
// parks the call until one is pending (ServeWaiters runs after every change that may make one
// pending) or its wait ends (Tick). Tick also expires the leases whose holder stopped
// heartbeating (ExpireLeases, over the LeaseTable). ReturnLease undoes a lease that never
// reached its worker.
//
// Thread-safety: public methods take mu_; answers decided under it go out after it is
// released (Replies); a parked call's answer goes out from its commit or from Tick/Shutdown,
// never under mu_.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/lease_token.h"
#include "tuner-server/request_validation.h"
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

}  // namespace

void Scheduler::RegisterWorker(const v1::RegisterWorkerRequest& request,
                               v1::RegisterWorkerResponse* response, Done done) {
  if (absl::Status valid = ValidateRegisterWorker(request); !valid.ok()) {
    done(valid);
    return;
  }
  Replies replies;
  absl::MutexLock lock(&mu_);
  const double now = Now();
  // The worker is in workers_ (or updated there) only once its row committed (kDrop): a
  // refused registration leaves nothing. Calls with the same new name meanwhile share its id.
  storage::WorkerRow row;
  for (const auto& [id, worker] : workers_) {
    if (worker.name == request.name()) row = worker;
  }
  const bool known_name = row.id != 0;
  auto registering = registering_.find(request.name());
  if (!known_name && registering != registering_.end()) {
    row.id = registering->second.first;
    row.registered_at = now;
  }
  if (row.id == 0) {
    const size_t known = workers_.size() + registering_.size();
    if (static_cast<int64_t>(known) >= options_.max_workers) {
      return replies.Add(std::move(done), absl::ResourceExhaustedError(absl::StrCat(
                                              "name: this server already knows ", known,
                                              " workers (its limit); reuse a worker name")));
    }
    row.id = next_worker_id_++;
    row.registered_at = now;
  }
  row.name = request.name();
  row.host = request.host();
  row.devices_json =
      nlohmann::json(std::vector<std::string>(request.devices().begin(), request.devices().end()))
          .dump();
  row.last_seen_at = now;
  if (!known_name) {  // a new name: later calls with it meanwhile get the same id
    auto& [id, calls] = registering_[row.name];
    id = row.id;
    ++calls;
  }
  response->set_worker_id(row.id);
  response->set_lease_seconds(options_.lease_seconds);
  Commit(
      {row},
      [this, row, done = std::move(done)](const absl::Status& status) {
        {
          absl::MutexLock lock(&mu_);
          auto it = registering_.find(row.name);
          if (it != registering_.end() && it->second.first == row.id &&
              --it->second.second == 0) {
            registering_.erase(it);
          }
          if (status.ok()) {
            workers_[row.id] = row;
            spdlog::info("worker {} \"{}\" registered from {}", row.id, row.name, row.host);
          } else {
            spdlog::warn("worker \"{}\": not registered, its row did not commit: {}", row.name,
                         status.ToString());
          }
        }
        done(status);
      },
      storage::GroupCommitter::OnFailure::kDrop);
}

bool Scheduler::TryLease(int64_t worker_id, bool accepts_ensembles,
                         v1::AcquireTrialResponse* response, Ops& ops, Ops& lease_ops) {
  // Ensembles first: they are short and a person is waiting for them.
  if (accepts_ensembles && TryLeaseEnsemble(worker_id, response, lease_ops)) return true;
  if (studies_.empty()) return false;
  // Round-robin over running studies so one big study does not starve the others.
  auto start = studies_.upper_bound(round_robin_);
  for (size_t visited = 0; visited < studies_.size(); ++visited, ++start) {
    if (start == studies_.end()) start = studies_.begin();
    StudyEntry& study = start->second;
    // A study whose stop is committing leases nothing: its trials are about to be stopped.
    if (study.state != v1::STUDY_RUNNING || study.stops_committing > 0) continue;
    if (study.pending.empty()) Advance(study, 1, ops);
    if (study.pending.empty()) continue;
    const int64_t number = *study.pending.begin();
    search::TrialRecord& record = study.history[number];
    TrialExtra& extra = study.extra[number];
    const double now = Now();
    absl::StatusOr<v1::Lease> lease = leases_.Grant(TrialKey(extra.id), worker_id, now);
    if (!lease.ok()) {
      spdlog::error("study {} trial {}: not leased: {}", study.row.id, extra.id,
                    lease.status().ToString());
      return false;
    }
    SetState(study, number, TrialState::kRunning);
    if (extra.started_at == 0) extra.started_at = now;
    Touch(study, number, lease_ops);
    round_robin_ = study.row.id;

    response->set_has_trial(true);
    *response->mutable_lease() = *std::move(lease);
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
                 study.row.id, extra.id, worker_id, response->lease().attempt(),
                 response->start_epoch() + 1, record.budget_epochs);
    return true;
  }
  return false;
}

void Scheduler::AcquireTrial(const v1::AcquireTrialRequest& request,
                             v1::AcquireTrialResponse* response, Done done) {
  if (absl::Status valid = ValidateAcquireTrial(request); !valid.ok()) {
    done(valid);
    return;
  }
  Replies replies;
  absl::MutexLock lock(&mu_);
  auto worker = workers_.find(request.worker_id());
  if (worker == workers_.end()) {
    return replies.Add(std::move(done),
                       absl::NotFoundError(absl::StrCat(
                           "worker ", request.worker_id(),
                           " is not registered; call RegisterWorker first")));
  }
  worker->second.last_seen_at = Now();
  Ops ops;
  Ops lease_ops;
  if (!shut_down_ &&
      TryLease(request.worker_id(), request.accepts_ensembles(), response, ops, lease_ops)) {
    CommitLease(response, std::move(ops), std::move(lease_ops), std::move(done));
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
  replies.Add(std::move(done), absl::OkStatus());
}

bool Scheduler::CancelAcquire(const v1::AcquireTrialResponse* response) {
  absl::MutexLock lock(&mu_);
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
    absl::MutexLock lock(&mu_);
    Ops ops;
    absl::StatusOr<HeldLease> held =
        HoldLease(ValidateAnyLease(lease), lease, LeaseOf::kEither, LeaseUse::kEnd, "ReturnLease");
    answer = held.status();
    if (answer.ok() && held->ensemble) {
      EnsembleEntry* ensemble = held->ensemble;
      const storage::EnsembleRow& row = ensemble->row;
      ensemble->state = v1::ENSEMBLE_PENDING;
      leases_.Release(EnsembleKey(row.id));
      ops.push_back(EnsembleRowOf(*ensemble));
      spdlog::warn("study {} ensemble {}: lease (attempt {}) never reached its worker; "
                   "re-queued without counting it",
                   row.study_id, row.id, lease.attempt());
    } else if (answer.ok()) {
      StudyEntry* study = held->study;
      const int64_t number = held->number;
      TrialExtra& extra = study->extra[number];
      spdlog::warn("study {} trial {}: lease (attempt {}) never reached worker {}; re-queued "
                   "without counting it",
                   study->row.id, extra.id, lease.attempt(), lease.worker_id());
      // Unlike Retry: no failed attempt is counted and no reason stored.
      leases_.Release(TrialKey(extra.id));
      SetState(*study, number, TrialState::kPending);
      Touch(*study, number, ops);
    }
    if (answer.ok()) Commit(std::move(ops), std::move(done));
  }
  if (!answer.ok()) {
    spdlog::info("undelivered lease not returned: {}", answer.ToString());
    if (done) done(answer);
    return;
  }
  ServeWaiters();
}

void Scheduler::CommitLease(v1::AcquireTrialResponse* response, Ops ops, Ops lease_ops,
                            Done done) {
  // What the policy planned on the way (new trials, promotions) is in memory already and kept
  // to be re-applied if it fails; the lease's own row is dropped then (kDrop) and the lease
  // withdrawn, so no RUNNING row of a lease nobody holds lands later.
  if (!ops.empty()) Commit(std::move(ops), nullptr);
  const v1::Lease lease = response->has_ensemble_job() ? response->ensemble_job().lease()
                                                       : response->lease();
  const LeaseKey key = lease.ensemble_id() != 0 ? EnsembleKey(lease.ensemble_id())
                                                : TrialKey(lease.trial_id());
  granting_.insert(key);
  Commit(
      std::move(lease_ops),
      [this, response, key, lease, done = std::move(done)](const absl::Status& status) {
        {
          absl::MutexLock lock(&mu_);
          granting_.erase(key);
        }
        if (!status.ok()) {
          response->Clear();
          WithdrawLease(lease);
        }
        if (done) done(status);
      },
      storage::GroupCommitter::OnFailure::kDrop);
}

void Scheduler::WithdrawLease(const v1::Lease& lease) {
  {
    absl::MutexLock lock(&mu_);
    Ops ops;
    if (lease.ensemble_id() != 0) {
      EnsembleEntry* ensemble;
      if (!FindEnsembleLease(lease, &ensemble).ok()) return;
      ensemble->state = v1::ENSEMBLE_PENDING;
      leases_.Withdraw(EnsembleKey(ensemble->row.id));
      ops.push_back(EnsembleRowOf(*ensemble));
      spdlog::warn("study {} ensemble {}: lease (attempt {}) withdrawn, its commit failed; "
                   "pending again",
                   ensemble->row.study_id, ensemble->row.id, lease.attempt());
    } else {
      StudyEntry* study;
      int64_t number;
      if (!FindLease(lease, &study, &number, /*allow_stopped=*/false).ok()) return;
      TrialExtra& extra = study->extra[number];
      leases_.Withdraw(TrialKey(extra.id));
      if (leases_.Get(TrialKey(extra.id)).attempt == 0) extra.started_at = 0;
      SetState(*study, number, TrialState::kPending);
      Touch(*study, number, ops);
      spdlog::warn("study {} trial {}: lease to worker {} (attempt {}) withdrawn, its commit "
                   "failed; pending again",
                   study->row.id, extra.id, lease.worker_id(), lease.attempt());
    }
    Commit(std::move(ops), nullptr);
  }
  ServeWaiters();
}

void Scheduler::ServeWaiters() {
  absl::MutexLock lock(&mu_);
  while (!waiters_.empty()) {
    Waiter& waiter = waiters_.front();
    Ops ops;
    Ops lease_ops;
    if (!TryLease(waiter.worker_id, waiter.accepts_ensembles, waiter.response, ops, lease_ops)) {
      if (!ops.empty()) Commit(std::move(ops), nullptr);
      return;
    }
    CommitLease(waiter.response, std::move(ops), std::move(lease_ops), std::move(waiter.done));
    waiters_.pop_front();
  }
}

void Scheduler::ExpireLeases(double now) {
  // Trials by study, in trial number order, one commit per study; then ensemble jobs.
  std::map<int64_t, std::vector<int64_t>> trials;  // study id -> numbers
  std::vector<int64_t> ensembles;
  for (const LeaseKey& key : leases_.Expired(now)) {
    // Its grant or end is committing: what the commit's callback installs decides.
    if (committing_.count(key) || granting_.count(key)) continue;
    if (key.kind == LeaseKind::kEnsemble) {
      ensembles.push_back(key.id);
      continue;
    }
    auto it = trial_index_.find(key.id);
    if (it != trial_index_.end()) trials[it->second.first].push_back(it->second.second);
  }
  for (auto& [study_id, numbers] : trials) {
    StudyEntry& study = *FindStudy(study_id);
    std::sort(numbers.begin(), numbers.end());
    Ops ops;
    for (int64_t number : numbers) {
      const LeaseKey key = TrialKey(study.extra[number].id);
      if (study.history[number].state != TrialState::kRunning) {
        leases_.StopClock(key);  // not RUNNING: nothing to expire (never expected)
        continue;
      }
      Retry(study, number,
            absl::StrCat("lease expired: worker ", WorkerLabel(leases_.Get(key).worker_id),
                         " stopped heartbeating"),
            /*retryable=*/true, ops);
      Advance(study, static_cast<int>(waiters_.size()), ops);
    }
    if (!ops.empty()) Commit(std::move(ops), nullptr);
  }
  Ops ops;
  for (int64_t id : ensembles) {
    EnsembleEntry& ensemble = ensembles_.at(id);
    if (ensemble.state != v1::ENSEMBLE_RUNNING) {
      leases_.StopClock(EnsembleKey(id));  // never expected
      continue;
    }
    RetryEnsemble(ensemble,
                  absl::StrCat("lease expired: worker ",
                               WorkerLabel(leases_.Get(EnsembleKey(id)).worker_id),
                               " stopped heartbeating"),
                  /*retryable=*/true, ops);
  }
  if (!ops.empty()) Commit(std::move(ops), nullptr);
}

void Scheduler::Tick() {
  {
    Replies replies;
    absl::MutexLock lock(&mu_);
    const double now = Now();
    ExpireLeases(now);
    // Waiters are in arrival order but may have different waits: sweep them all.
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->deadline <= now) {
        it->response->set_has_trial(false);
        replies.Add(std::move(it->done), absl::OkStatus());
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  ServeWaiters();
  // After the commits that finished trials were queued: their deletions land after them.
  CollectCheckpoints();
}

void Scheduler::Shutdown() {
  Replies replies;
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (Waiter& waiter : waiters_) {
    waiter.response->set_has_trial(false);
    replies.Add(std::move(waiter.done), absl::OkStatus());
  }
  waiters_.clear();
}

int64_t Scheduler::ParkedAcquires() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(waiters_.size());
}

}  // namespace tuner::server
