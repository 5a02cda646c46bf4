#include "tuner-server/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/lease_token.h"
#include "tuner-server/pagination.h"
#include "trial-worker/training/trainer_spec.h"

namespace tuner::server {
namespace {

using search::TrialState;

size_t Index(TrialState state) { return static_cast<size_t>(state); }

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, storage::GroupCommitter* committer,
                     storage::Database* reader)
    : options_(std::move(options)), committer_(committer), reader_(reader) {}

double Scheduler::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<std::string> Scheduler::NewToken() const {
  if (options_.lease_token) return options_.lease_token();
  return NewLeaseToken();
}

void Scheduler::Commit(Ops ops, Done done) { committer_->Submit(std::move(ops), std::move(done)); }

Scheduler::StudyEntry* Scheduler::FindStudy(int64_t study_id) {
  auto it = studies_.find(study_id);
  return it == studies_.end() ? nullptr : &it->second;
}

absl::Status Scheduler::Load(const storage::Snapshot& snapshot,
                             const std::vector<storage::CheckpointRow>& checkpoints) {
  std::lock_guard<std::mutex> lock(mu_);
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
    study.spec = std::move(*spec);
    study.policy = std::move(*policy);
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
    extra.attempt = row.attempt;
    extra.retries = row.retries;
    extra.worker_id = row.worker_id;
    // Workers that outlived the server keep their trials if they heartbeat in time, with the
    // token they were given (it is in the db).
    extra.lease_deadline = *state == TrialState::kRunning ? now + options_.lease_seconds : 0;
    extra.lease_token = row.lease_token;
    if (*state == TrialState::kRunning && extra.lease_token.empty()) {
      // Leased by a server older than lease tokens (schema 2): its worker cannot prove it
      // holds the lease, so the lease gets a token nobody knows, runs out and is re-queued.
      absl::StatusOr<std::string> token = NewToken();
      if (!token.ok()) return token.status();
      extra.lease_token = std::move(*token);
      spdlog::warn("study {} trial {}: RUNNING without a lease token (leased before the "
                   "upgrade); it is re-queued when its lease runs out",
                   row.study_id, row.id);
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
    if (*state == TrialState::kRunning) study->running.insert(row.number);
    trial_index_[row.id] = {row.study_id, row.number};
    next_trial_id_ = std::max(next_trial_id_, row.id + 1);
  }
  // The policies and the pruner read intermediate values from memory.
  for (auto& [id, study] : studies_) {
    absl::StatusOr<std::vector<storage::IntermediateRow>> rows;
    {
      std::lock_guard<std::mutex> reader_lock(reader_mu_);
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
  const search::TrialRecord& record = study.history[number];
  const TrialExtra& extra = study.extra[number];
  storage::TrialRow row;
  row.id = extra.id;
  row.study_id = study.row.id;
  row.number = number;
  row.params_json = ParamsToJson(record.params);
  row.state = TrialStateName(record.state);
  row.value = record.value;
  row.metrics_json = MetricsToJson(extra.metrics);
  row.bracket = record.bracket;
  row.rung = record.rung;
  row.budget_epochs = record.budget_epochs;
  row.epochs_done = extra.epochs_done;
  row.attempt = extra.attempt;
  row.retries = extra.retries;
  row.worker_id = extra.worker_id;
  row.lease_deadline = extra.lease_deadline;
  row.lease_token = extra.lease_token;
  row.checkpoint_id = extra.checkpoint_id;
  row.fail_reason = extra.fail_reason;
  row.created_at = extra.created_at;
  row.started_at = extra.started_at;
  row.finished_at = extra.finished_at;
  return row;
}

int64_t Scheduler::AddTrial(StudyEntry& study, search::NewTrial fresh, Ops& ops) {
  const int64_t number = static_cast<int64_t>(study.history.size());
  search::TrialRecord record;
  record.number = number;
  record.params = std::move(fresh.params);
  record.state = TrialState::kPending;
  record.bracket = fresh.bracket;
  record.rung = fresh.rung;
  record.budget_epochs = fresh.budget_epochs;
  TrialExtra extra;
  extra.id = next_trial_id_++;
  extra.created_at = Now();
  trial_index_[extra.id] = {study.row.id, number};
  study.history.push_back(std::move(record));
  study.extra.push_back(std::move(extra));
  study.counts[Index(TrialState::kPending)]++;
  study.pending.insert(number);
  Touch(study, number, ops);
  return number;
}

void Scheduler::Advance(StudyEntry& study, int max_new, Ops& ops) {
  if (study.row.state != "STUDY_RUNNING") return;
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
    study.row.state = "STUDY_COMPLETED";
    study.row.finished_at = now;
    ++study.version;
    ops.push_back(study.row);
    spdlog::info("study {} \"{}\": completed with {} trials", study.row.id, study.row.name,
                 study.history.size());
  }
}

// ------------------------------------------------------------------ StudyService

void Scheduler::CreateStudy(const v1::CreateStudyRequest& request,
                            v1::CreateStudyResponse* response, Done done) {
  if (request.spec_yaml().empty()) {
    done(absl::InvalidArgumentError("spec_yaml: must not be empty"));
    return;
  }
  if (request.spec_yaml().size() > (1 << 20)) {
    done(absl::InvalidArgumentError("spec_yaml: must be at most 1 MiB"));
    return;
  }
  absl::StatusOr<search::StudySpec> spec = search::ParseStudySpec(request.spec_yaml());
  if (!spec.ok()) {
    done(spec.status());
    return;
  }
  if (absl::Status s = worker::ValidateTrainerSpec(*spec); !s.ok()) {
    done(s);
    return;
  }
  auto policy = search::MakePolicy(*spec);
  if (!policy.ok()) {
    done(policy.status());
    return;
  }
  Ops ops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<int64_t>(studies_.size()) >= options_.max_studies) {
      done(absl::ResourceExhaustedError(
          absl::StrCat("this server already holds ", studies_.size(), " studies (the limit)")));
      return;
    }
    const int64_t id = next_study_id_++;
    StudyEntry& study = studies_[id];
    study.row.id = id;
    study.row.name = spec->name;
    study.row.spec_yaml = request.spec_yaml();
    study.row.state = "STUDY_RUNNING";
    study.row.created_at = Now();
    study.spec = std::move(*spec);
    study.policy = std::move(*policy);
    ops.push_back(study.row);
    spdlog::info("study {} \"{}\": created ({}, {} trials planned)", id, study.row.name,
                 search::AlgorithmName(study.spec.algorithm), study.policy->PlannedTrials());
    response->set_study_id(id);
    FillStudy(study, response->mutable_study());
    Commit(std::move(ops), std::move(done));
  }
  ServeWaiters();
}

absl::Status Scheduler::GetStudy(int64_t study_id, v1::Study* out) {
  std::lock_guard<std::mutex> lock(mu_);
  StudyEntry* study = FindStudy(study_id);
  if (!study) return absl::NotFoundError(absl::StrCat("study ", study_id, " not found"));
  FillStudy(*study, out);
  return absl::OkStatus();
}

absl::Status Scheduler::ListStudies(const v1::ListStudiesRequest& request,
                                    v1::ListStudiesResponse* response) {
  absl::StatusOr<int32_t> page_size =
      CheckPageSize(request.page_size(), kDefaultStudiesPageSize, kMaxStudiesPageSize);
  if (!page_size.ok()) return page_size.status();
  absl::StatusOr<std::optional<int64_t>> after = DecodePageToken(request.page_token(), "studies");
  if (!after.ok()) return after.status();
  PageBudget page(*page_size);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = after->has_value() ? studies_.upper_bound(**after) : studies_.begin();
  for (; it != studies_.end() && page.HasRoom(); ++it) {
    v1::Study* study = response->add_studies();
    FillStudy(it->second, study);
    if (!request.with_spec_yaml()) study->clear_spec_yaml();
    if (!page.Take(ElementBytes(study->ByteSizeLong()))) {
      response->mutable_studies()->RemoveLast();
      break;
    }
  }
  // The page holds at least one study whenever one is left after the token (Take), so
  // prev(it) is the page's last.
  if (it != studies_.end()) {
    response->set_next_page_token(EncodePageToken("studies", std::prev(it)->first));
  }
  return absl::OkStatus();
}

absl::Status Scheduler::ListTrials(const v1::ListTrialsRequest& request,
                                   v1::ListTrialsResponse* response) {
  std::set<TrialState> wanted;
  for (int state : request.states()) {
    auto parsed = FromProto(static_cast<v1::TrialState>(state));
    if (!parsed) {
      return absl::InvalidArgumentError(absl::StrCat("states: unknown trial state ", state));
    }
    wanted.insert(*parsed);
  }
  absl::StatusOr<int32_t> page_size =
      CheckPageSize(request.page_size(), kDefaultTrialsPageSize, kMaxTrialsPageSize);
  if (!page_size.ok()) return page_size.status();
  const std::string list = absl::StrCat("trials of study ", request.study_id());
  absl::StatusOr<std::optional<int64_t>> after = DecodePageToken(request.page_token(), list);
  if (!after.ok()) return after.status();
  bool more = false;  // a wanted trial is left after the page
  {
    PageBudget page(*page_size);
    std::lock_guard<std::mutex> lock(mu_);
    StudyEntry* study = FindStudy(request.study_id());
    if (!study) {
      return absl::NotFoundError(absl::StrCat("study ", request.study_id(), " not found"));
    }
    const size_t first = after->has_value() ? static_cast<size_t>(**after) + 1 : 0;
    for (size_t n = first; n < study->history.size(); ++n) {
      if (!wanted.empty() && !wanted.count(study->history[n].state)) continue;
      if (!page.HasRoom()) {
        more = true;
        break;
      }
      v1::Trial* trial = response->add_trials();
      FillTrial(*study, static_cast<int64_t>(n), trial);
      if (!page.Take(ElementBytes(trial->ByteSizeLong()))) {
        response->mutable_trials()->RemoveLast();
        more = true;
        break;
      }
    }
  }
  if (request.with_intermediate_values()) {
    // The values count toward the page's bytes too: the page ends before the first trial
    // that, with its values, would take it past the bound.
    PageBudget page(*page_size);
    std::lock_guard<std::mutex> lock(reader_mu_);
    for (int i = 0; i < response->trials_size(); ++i) {
      v1::Trial* trial = response->mutable_trials(i);
      auto rows = reader_->LoadIntermediates(trial->trial_id());
      if (!rows.ok()) return rows.status();
      for (const storage::IntermediateRow& row : *rows) {
        v1::IntermediateValue* value = trial->add_intermediate_values();
        value->set_execution(row.execution);
        value->set_epoch(row.epoch);
        value->set_value(row.value);
        for (const auto& [name, metric] : MetricsFromJson(row.metrics_json)) {
          (*value->mutable_metrics())[name] = metric;
        }
      }
      if (!page.Take(ElementBytes(trial->ByteSizeLong()))) {
        response->mutable_trials()->DeleteSubrange(i, response->trials_size() - i);
        more = true;
        break;
      }
    }
  }
  if (more) {
    const v1::Trial& last = response->trials(response->trials_size() - 1);
    response->set_next_page_token(EncodePageToken(list, last.number()));
  }
  return absl::OkStatus();
}

absl::Status Scheduler::GetBestTrials(const v1::GetBestTrialsRequest& request,
                                      v1::GetBestTrialsResponse* response) {
  if (request.k() < 0 || request.k() > 10000) {
    return absl::InvalidArgumentError("k: must be between 0 and 10000 (0 means 1)");
  }
  const size_t k = request.k() == 0 ? 1 : static_cast<size_t>(request.k());
  std::lock_guard<std::mutex> lock(mu_);
  StudyEntry* study = FindStudy(request.study_id());
  if (!study) return absl::NotFoundError(absl::StrCat("study ", request.study_id(), " not found"));
  std::vector<int64_t> done;
  for (const search::TrialRecord& record : study->history) {
    if (record.state == TrialState::kCompleted && record.value) done.push_back(record.number);
  }
  const bool maximize = study->spec.maximize;
  std::stable_sort(done.begin(), done.end(), [&](int64_t a, int64_t b) {
    return search::Better(*study->history[a].value, *study->history[b].value, maximize);
  });
  if (done.size() > k) done.resize(k);
  for (int64_t number : done) FillTrial(*study, number, response->add_trials());
  for (auto it = ensembles_.rbegin(); it != ensembles_.rend(); ++it) {
    if (it->second.row.study_id == study->row.id &&
        it->second.row.state == "ENSEMBLE_COMPLETED") {
      FillEnsemble(it->second, response->mutable_latest_ensemble());
      break;
    }
  }
  return absl::OkStatus();
}

void Scheduler::StopStudy(int64_t study_id, v1::Study* response, Done done) {
  std::lock_guard<std::mutex> lock(mu_);
  StudyEntry* study = FindStudy(study_id);
  if (!study) {
    done(absl::NotFoundError(absl::StrCat("study ", study_id, " not found")));
    return;
  }
  Ops ops;
  if (study->row.state == "STUDY_RUNNING") {
    for (size_t n = 0; n < study->history.size(); ++n) {
      if (!IsFinal(study->history[n].state)) {
        SetState(*study, static_cast<int64_t>(n), TrialState::kStopped);
        Touch(*study, static_cast<int64_t>(n), ops);
      }
    }
    study->row.state = "STUDY_STOPPED";
    study->row.finished_at = Now();
    ++study->version;
    ops.push_back(study->row);
    spdlog::info("study {} \"{}\": stopped by request", study->row.id, study->row.name);
  }
  FillStudy(*study, response);
  Commit(std::move(ops), std::move(done));
}

void Scheduler::EnqueueTrial(const v1::EnqueueTrialRequest& request,
                             v1::EnqueueTrialResponse* response, Done done) {
  search::Params given;
  for (const auto& [name, value] : request.params()) {
    switch (value.kind_case()) {
      case v1::ParamValue::kIntValue:
        given[name] = value.int_value();
        break;
      case v1::ParamValue::kFloatValue:
        given[name] = value.float_value();
        break;
      case v1::ParamValue::kStringValue:
        given[name] = value.string_value();
        break;
      case v1::ParamValue::KIND_NOT_SET:
        done(absl::InvalidArgumentError(absl::StrCat("params.", name, ": has no value")));
        return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    StudyEntry* study = FindStudy(request.study_id());
    if (!study) {
      done(absl::NotFoundError(absl::StrCat("study ", request.study_id(), " not found")));
      return;
    }
    if (study->row.state != "STUDY_RUNNING") {
      done(absl::FailedPreconditionError(absl::StrCat(
          "study ", study->row.id, " is ", study->row.state, "; only a running study takes trials")));
      return;
    }
    absl::StatusOr<search::Params> params = search::CanonicalParams(study->spec.space, given);
    if (!params.ok()) {
      done(params.status());
      return;
    }
    absl::StatusOr<search::NewTrial> fresh =
        study->policy->Enqueue(study->history, *std::move(params));
    if (!fresh.ok()) {
      done(fresh.status());
      return;
    }
    Ops ops;
    const int64_t number = AddTrial(*study, *std::move(fresh), ops);
    FillTrial(*study, number, response->mutable_trial());
    spdlog::info("study {} trial {}: enqueued as number {} ({})", study->row.id,
                 study->extra[number].id, number, ParamsToJson(study->history[number].params));
    Commit(std::move(ops), std::move(done));
  }
  ServeWaiters();
}

absl::Status Scheduler::Poll(int64_t study_id, uint64_t* version, v1::Study* out,
                             std::vector<v1::Trial>* changed, bool* finished) {
  std::lock_guard<std::mutex> lock(mu_);
  StudyEntry* study = FindStudy(study_id);
  if (!study) return absl::NotFoundError(absl::StrCat("study ", study_id, " not found"));
  if (study->version != *version) {
    for (size_t n = 0; n < study->extra.size(); ++n) {
      if (study->extra[n].version > *version) {
        changed->emplace_back();
        FillTrial(*study, static_cast<int64_t>(n), &changed->back());
      }
    }
  }
  *version = study->version;
  FillStudy(*study, out);
  *finished = study->row.state != "STUDY_RUNNING";
  return absl::OkStatus();
}

}  // namespace tuner::server
