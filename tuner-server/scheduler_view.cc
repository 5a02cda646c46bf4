// Scheduler: the proto views of studies, trials and workers (FillStudy, FillTrial, ListWorkers:
// what GetStudy, ListTrials, WatchStudy, ListWorkers and the lease answers show) and the gauges
// for the metrics endpoint. Read-only.
//
// Thread-safety: Fill* are called with mu_ held; Gauges takes it.
#include <algorithm>
#include <map>
#include <string>

#include "nlohmann/json.hpp"

#include "search/asha.h"
#include "search/hyperband.h"
#include "search/progress.h"
#include "tuner-server/convert.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {

void Scheduler::FillTrial(const StudyEntry& study, int64_t number, v1::Trial* trial) const {
  const search::TrialRecord& record = study.history[number];
  const TrialExtra& extra = study.extra[number];
  const LeaseRecord& lease = leases_.Get(TrialKey(extra.id));
  trial->set_trial_id(extra.id);
  trial->set_study_id(study.row.id);
  trial->set_number(number);
  ParamsToProto(record.params, trial->mutable_params());
  trial->set_state(ToProto(record.state));
  trial->set_has_value(record.value.has_value());
  if (record.value) trial->set_value(*record.value);
  for (const auto& [name, value] : extra.metrics) (*trial->mutable_metrics())[name] = value;
  trial->set_bracket(record.bracket);
  trial->set_rung(record.rung);
  trial->set_budget_epochs(record.budget_epochs);
  trial->set_epochs_done(extra.epochs_done);
  trial->set_attempt(lease.attempt);
  if (auto it = workers_.find(lease.worker_id); it != workers_.end()) {
    trial->set_worker_name(it->second.name);
  }
  // A lease's deadline is lease_seconds after its holder was last heard from.
  if (record.state == search::TrialState::kRunning && lease.deadline > 0) {
    trial->set_heartbeat_at(lease.deadline - options_.lease_seconds);
  }
  trial->set_fail_reason(extra.fail_reason);
  trial->set_checkpoint_id(extra.checkpoint_id);
  trial->set_created_at(extra.created_at);
  trial->set_started_at(extra.started_at);
  trial->set_finished_at(extra.finished_at);
}

void Scheduler::FillStudy(const StudyEntry& study, v1::Study* out) const {
  out->set_study_id(study.row.id);
  out->set_name(study.row.name);
  out->set_state(study.state);
  out->set_algorithm(search::AlgorithmName(study.spec.algorithm));
  out->set_objective_metric(study.spec.objective_metric);
  out->set_direction(study.spec.maximize ? v1::MAXIMIZE : v1::MINIMIZE);
  out->set_spec_yaml(study.row.spec_yaml);
  for (size_t i = 0; i < study.counts.size(); ++i) {
    (*out->mutable_trial_counts())[TrialStateName(static_cast<search::TrialState>(i))] =
        study.counts[i];
  }
  out->set_planned_trials(study.policy->PlannedTrials());
  const search::EpochProgress epochs =
      search::EstimateEpochs(study.spec, study.history, study.policy->PlannedTrials(),
                             /*finished=*/study.state != v1::STUDY_RUNNING);
  out->set_epochs_done(epochs.done);
  out->set_planned_epochs(epochs.planned);
  if (study.spec.algorithm != search::Algorithm::kGrid) {
    out->set_sampler(search::SamplerName(study.spec.sampler.kind));
  }
  out->set_pruner(study.spec.pruner.kind == search::PrunerKind::kMedian ? "median" : "none");
  out->set_created_at(study.row.created_at);
  out->set_finished_at(study.row.finished_at);

  int64_t best = -1;
  for (const search::TrialRecord& record : study.history) {
    if (record.state != search::TrialState::kCompleted || !record.value) continue;
    if (best < 0 || search::Better(*record.value, *study.history[best].value, study.spec.maximize)) {
      best = record.number;
    }
  }
  out->set_has_best(best >= 0);
  if (best >= 0) FillTrial(study, best, out->mutable_best_trial());

  if (study.spec.algorithm == search::Algorithm::kAsha) {
    FillAshaBrackets(study, out);
    return;
  }
  if (study.spec.algorithm != search::Algorithm::kHyperband) return;
  const std::vector<search::BracketSchedule> schedule =
      search::HyperbandSchedule(study.spec.hyperband.max_epochs, study.spec.hyperband.eta);
  if (schedule.empty()) return;
  std::map<int, v1::BracketProgress> brackets;
  for (const search::TrialRecord& record : study.history) {
    if (record.bracket < 0) continue;
    v1::BracketProgress& progress = brackets[record.bracket];
    const search::BracketSchedule& shape = schedule[record.bracket % schedule.size()];
    progress.set_bracket(record.bracket);
    progress.set_rungs(static_cast<int>(shape.trials.size()));
    progress.set_trials(shape.trials.empty() ? 0 : shape.trials[0]);
    progress.set_rung(std::max(progress.rung(), record.rung));
    if (IsFinal(record.state)) progress.set_finished(progress.finished() + 1);
  }
  for (auto& [id, progress] : brackets) *out->add_brackets() = progress;
}

void Scheduler::FillAshaBrackets(const StudyEntry& study, v1::Study* out) const {
  // ASHA's brackets have no fixed size: trials counts the configurations started so far.
  const search::AshaSpec& asha = study.spec.asha;
  std::map<int, v1::BracketProgress> brackets;
  for (int b = 0; b < asha.brackets; ++b) {
    v1::BracketProgress& progress = brackets[b];
    progress.set_bracket(b);
    progress.set_rungs(static_cast<int>(
        search::AshaRungEpochs(asha.min_epochs, asha.max_epochs, asha.eta, b).size()));
  }
  for (const search::TrialRecord& record : study.history) {
    auto it = brackets.find(record.bracket);
    if (it == brackets.end()) continue;
    v1::BracketProgress& progress = it->second;
    progress.set_trials(progress.trials() + 1);
    progress.set_rung(std::max(progress.rung(), record.rung));
    if (IsFinal(record.state)) progress.set_finished(progress.finished() + 1);
  }
  for (auto& [id, progress] : brackets) *out->add_brackets() = progress;
}

std::string Scheduler::WorkerLabel(int64_t worker_id) const {
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.name.empty()) {
    return "with id " + std::to_string(worker_id);
  }
  return it->second.name;
}

absl::Status Scheduler::ListWorkers(const v1::ListWorkersRequest& /*request*/,
                                    v1::ListWorkersResponse* response) {
  absl::MutexLock lock(&mu_);
  const double now = Now();
  std::map<int64_t, v1::Worker> shown;
  for (const auto& [id, row] : workers_) {
    v1::Worker& worker = shown[id];
    worker.set_worker_id(id);
    worker.set_name(row.name);
    worker.set_host(row.host);
    const nlohmann::json devices = nlohmann::json::parse(row.devices_json, nullptr, false);
    if (devices.is_array()) {
      for (const nlohmann::json& device : devices) {
        if (device.is_string()) worker.add_devices(device.get<std::string>());
      }
    }
    worker.set_registered_at(row.registered_at);
    worker.set_last_seen_at(row.last_seen_at);
  }
  // A parked AcquireTrial is a worker waiting right now.
  for (const Waiter& waiter : waiters_) {
    if (auto it = shown.find(waiter.worker_id); it != shown.end()) it->second.set_last_seen_at(now);
  }
  for (const auto& [study_id, study] : studies_) {
    for (int64_t number : study.running) {
      const LeaseRecord& lease = leases_.Get(TrialKey(study.extra[number].id));
      auto it = shown.find(lease.worker_id);
      if (it == shown.end()) continue;
      it->second.set_study_id(study_id);
      it->second.set_trial_id(study.extra[number].id);
      it->second.set_trial_number(number);
      if (lease.deadline > 0) {
        it->second.set_last_seen_at(
            std::max(it->second.last_seen_at(), lease.deadline - options_.lease_seconds));
      }
    }
  }
  for (const auto& [id, ensemble] : ensembles_) {
    if (ensemble.state != v1::ENSEMBLE_RUNNING) continue;
    const LeaseRecord& lease = leases_.Get(EnsembleKey(id));
    auto it = shown.find(lease.worker_id);
    if (it == shown.end()) continue;
    it->second.set_ensemble_id(id);
    if (lease.deadline > 0) {
      it->second.set_last_seen_at(
          std::max(it->second.last_seen_at(), lease.deadline - options_.lease_seconds));
    }
  }
  for (auto& [id, worker] : shown) *response->add_workers() = std::move(worker);
  return absl::OkStatus();
}

SchedulerGauges Scheduler::Gauges() {
  absl::MutexLock lock(&mu_);
  SchedulerGauges gauges;
  for (const auto& [id, study] : studies_) {
    gauges.studies[v1::StudyState_Name(study.state)]++;
    for (size_t i = 0; i < study.counts.size(); ++i) {
      if (study.counts[i] == 0) continue;
      gauges.trials[{id, TrialStateName(static_cast<search::TrialState>(i))}] = study.counts[i];
    }
    gauges.leases += static_cast<int64_t>(study.running.size());
  }
  gauges.workers = static_cast<int64_t>(workers_.size());
  gauges.parked_acquires = static_cast<int64_t>(waiters_.size());
  return gauges;
}

}  // namespace tuner::server
