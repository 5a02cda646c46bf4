// Scheduler: the proto views of studies and trials (FillStudy, FillTrial: what GetStudy,
// ListTrials, WatchStudy and the lease answers show) and the gauges for the metrics endpoint.
// Read-only.
//
// Thread-safety: Fill* are called with mu_ held; Gauges takes it.
#include <map>

#include "search/asha.h"
#include "search/hyperband.h"
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
