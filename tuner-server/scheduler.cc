// Scheduler: construction and the StudyService side (create, get, list, best trials, stop,
// enqueue, and Poll for WatchStudy). Where the rest of a trial's path lives: scheduler.h.
//
// Thread-safety: public methods take mu_; answers decided under it go out after it is
// released (Replies); answers that wait for the commit go out from its callback.
#include "tuner-server/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "spdlog/spdlog.h"
#include "tuner-server/convert.h"
#include "tuner-server/lease_token.h"
#include "tuner-server/pagination.h"
#include "tuner-server/request_validation.h"
#include "trial-worker/training/trainer_spec.h"

namespace tuner::server {
namespace {

using search::TrialState;

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, storage::GroupCommitter* committer,
                     storage::Database* reader)
    : options_(std::move(options)),
      committer_(committer),
      leases_(options_.lease_seconds, [this] { return NewToken(); }),
      reader_(reader) {}

double Scheduler::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<std::string> Scheduler::NewToken() const {
  if (options_.lease_token) return options_.lease_token();
  return NewLeaseToken();
}

void Scheduler::Commit(Ops ops, Done done, storage::GroupCommitter::OnFailure on_failure) {
  committer_->Submit(std::move(ops), std::move(done), on_failure);
}

Scheduler::StudyEntry* Scheduler::FindStudy(int64_t study_id) {
  auto it = studies_.find(study_id);
  return it == studies_.end() ? nullptr : &it->second;
}

// ------------------------------------------------------------------ StudyService

void Scheduler::CreateStudy(const v1::CreateStudyRequest& request,
                            v1::CreateStudyResponse* response, Done done) {
  if (absl::Status valid = ValidateCreateStudy(request); !valid.ok()) {
    done(valid);
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
  Replies replies;
  absl::MutexLock lock(&mu_);
  const std::string& request_id = request.request_id();
  if (!request_id.empty()) {
    // A retry: the study its first call created, or the commit that is creating it.
    const std::string* first_spec = nullptr;
    StudyEntry* created = nullptr;
    if (auto it = study_by_request_.find(request_id); it != study_by_request_.end()) {
      created = FindStudy(it->second);
      if (created) first_spec = &created->row.spec_yaml;
    }
    auto pending = creating_.find(request_id);
    if (pending != creating_.end()) first_spec = &pending->second.spec_yaml;
    if (first_spec && *first_spec != request.spec_yaml()) {
      return replies.Add(
          std::move(done),
          absl::AlreadyExistsError(absl::StrCat(
              "request_id: \"", TruncateUtf8(request_id, 64), "\" was already used ",
              created ? absl::StrCat("by study ", created->row.id) : "by a call in progress",
              " with a different spec_yaml; use a new request_id for a new study")));
    }
    if (created) {
      spdlog::info("study {} \"{}\": CreateStudy retried (request_id {}); answered with it",
                   created->row.id, created->row.name, TruncateUtf8(request_id, 64));
      response->set_study_id(created->row.id);
      FillStudy(*created, response->mutable_study());
      return replies.Add(std::move(done), absl::OkStatus());
    }
    if (pending != creating_.end()) {
      pending->second.retries.emplace_back(response, std::move(done));
      return;
    }
  }
  if (static_cast<int64_t>(studies_.size()) + creating_count_ >= options_.max_studies) {
    return replies.Add(std::move(done), absl::ResourceExhaustedError(absl::StrCat(
                                            "this server already holds ", studies_.size(),
                                            " studies (the limit)")));
  }
  // The study is in memory only once its row committed (FinishCreateStudy): a refused call
  // leaves nothing, and its row is not stored later either (kDrop).
  auto study = std::make_shared<StudyEntry>();
  study->row.id = next_study_id_++;
  study->row.name = spec->name;
  study->row.spec_yaml = request.spec_yaml();
  study->row.request_id = request_id;
  study->state = v1::STUDY_RUNNING;
  study->row.created_at = Now();
  study->spec = std::move(*spec);
  study->policy = std::move(*policy);
  if (!request_id.empty()) creating_[request_id].spec_yaml = request.spec_yaml();
  ++creating_count_;
  Ops ops{StudyRowOf(*study)};
  Commit(
      std::move(ops),
      [this, study, response, done = std::move(done)](const absl::Status& status) mutable {
        FinishCreateStudy(std::move(study), response, std::move(done), status);
      },
      storage::GroupCommitter::OnFailure::kDrop);
}

void Scheduler::FinishCreateStudy(std::shared_ptr<StudyEntry> study,
                                  v1::CreateStudyResponse* response, Done done,
                                  const absl::Status& status) {
  std::vector<std::pair<v1::CreateStudyResponse*, Done>> answers;
  answers.emplace_back(response, std::move(done));
  {
    absl::MutexLock lock(&mu_);
    --creating_count_;
    const std::string request_id = study->row.request_id;
    if (auto it = creating_.find(request_id); !request_id.empty() && it != creating_.end()) {
      for (auto& retry : it->second.retries) answers.push_back(std::move(retry));
      creating_.erase(it);
    }
    const int64_t id = study->row.id;
    if (status.ok()) {
      StudyEntry& entry = studies_[id];
      entry = std::move(*study);
      if (!request_id.empty()) study_by_request_[request_id] = id;
      spdlog::info("study {} \"{}\": created ({}, {} trials planned)", id, entry.row.name,
                   search::AlgorithmName(entry.spec.algorithm), entry.policy->PlannedTrials());
      for (auto& [out, unused] : answers) {
        out->set_study_id(id);
        FillStudy(entry, out->mutable_study());
      }
    } else {
      spdlog::warn("study {} \"{}\": not created, its row did not commit: {}", id,
                   study->row.name, status.ToString());
    }
  }
  for (auto& [unused, answer] : answers) answer(status);
  if (status.ok()) ServeWaiters();
}

absl::Status Scheduler::GetStudy(int64_t study_id, v1::Study* out) {
  absl::MutexLock lock(&mu_);
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
  absl::MutexLock lock(&mu_);
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
    absl::MutexLock lock(&mu_);
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
    absl::MutexLock lock(&reader_mu_);
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
  if (absl::Status valid = ValidateGetBestTrials(request); !valid.ok()) return valid;
  const size_t k = request.k() == 0 ? 1 : static_cast<size_t>(request.k());
  absl::MutexLock lock(&mu_);
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
    if (it->second.row.study_id == study->row.id && it->second.state == v1::ENSEMBLE_COMPLETED) {
      FillEnsemble(it->second, response->mutable_latest_ensemble());
      break;
    }
  }
  return absl::OkStatus();
}

void Scheduler::StopStudy(int64_t study_id, v1::Study* response, Done done) {
  Replies replies;
  absl::MutexLock lock(&mu_);
  StudyEntry* study = FindStudy(study_id);
  if (!study) {
    return replies.Add(std::move(done),
                       absl::NotFoundError(absl::StrCat("study ", study_id, " not found")));
  }
  if (study->state != v1::STUDY_RUNNING) {
    FillStudy(*study, response);
    Commit({}, std::move(done));
    return;
  }
  // Staged: the rows of the stopped study and trials are written first, and memory changes
  // once they committed (FinishStopStudy); meanwhile nothing of the study is leased or
  // planned. A trial whose CompleteTrial or FailTrial commits is left to that call.
  Ops ops;
  std::vector<std::pair<int64_t, uint64_t>> stopped;  // trial number, version
  const double now = Now();
  for (size_t n = 0; n < study->history.size(); ++n) {
    const auto number = static_cast<int64_t>(n);
    if (IsFinal(study->history[n].state) || committing_.count(TrialKey(study->extra[n].id))) {
      continue;
    }
    TrialSnapshot before = SaveTrial(*study, number);
    SetState(*study, number, TrialState::kStopped);
    study->extra[n].finished_at = now;
    storage::TrialRow row = ToRow(*study, number);
    PutTrial(*study, number, std::move(before));
    stopped.emplace_back(number, study->extra[n].version);
    ops.push_back(std::move(row));
  }
  storage::StudyRow row = StudyRowOf(*study);
  row.state = v1::StudyState_Name(v1::STUDY_STOPPED);
  row.finished_at = now;
  ops.push_back(std::move(row));
  ++study->stops_committing;
  Commit(
      std::move(ops),
      [this, study_id, stopped = std::move(stopped), now, response,
       done = std::move(done)](const absl::Status& status) mutable {
        FinishStopStudy(study_id, std::move(stopped), now, response, std::move(done), status);
      },
      storage::GroupCommitter::OnFailure::kDrop);
}

void Scheduler::EnqueueTrial(const v1::EnqueueTrialRequest& request,
                             v1::EnqueueTrialResponse* response, Done done) {
  absl::StatusOr<search::Params> given = ParamsOfEnqueue(request);
  if (!given.ok()) {
    done(given.status());
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
    if (study->state != v1::STUDY_RUNNING) {
      return replies.Add(std::move(done),
                         absl::FailedPreconditionError(absl::StrCat(
                             "study ", study->row.id, " is ", v1::StudyState_Name(study->state),
                             "; only a running study takes trials")));
    }
    absl::StatusOr<search::Params> params =
        search::CanonicalParams(study->spec.space, *std::move(given));
    if (!params.ok()) return replies.Add(std::move(done), params.status());
    absl::StatusOr<search::NewTrial> fresh =
        study->policy->Enqueue(study->history, *std::move(params));
    if (!fresh.ok()) return replies.Add(std::move(done), fresh.status());
    // Staged: the trial joins the study once its row committed (FinishEnqueue, kDrop). It
    // takes the next number; enqueues still committing took the ones before it, and the
    // policy plans nothing until they landed.
    const int64_t number =
        static_cast<int64_t>(study->history.size()) + study->enqueues_committing;
    auto [record, extra] = NewTrialOf(number, next_trial_id_++, *std::move(fresh));
    Ops ops{ToRow(study->row.id, record, extra, LeaseRecord{})};
    ++study->enqueues_committing;
    Commit(
        std::move(ops),
        [this, study_id = study->row.id,
         trial = TrialSnapshot{std::move(record), std::move(extra), LeaseState{}}, response,
         done = std::move(done)](const absl::Status& status) mutable {
          FinishEnqueue(study_id, std::move(trial), response, std::move(done), status);
        },
        storage::GroupCommitter::OnFailure::kDrop);
  }
}

absl::Status Scheduler::Poll(int64_t study_id, uint64_t* version, v1::Study* out,
                             std::vector<v1::Trial>* changed, bool* finished) {
  absl::MutexLock lock(&mu_);
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
  *finished = study->state != v1::STUDY_RUNNING;
  return absl::OkStatus();
}

}  // namespace tuner::server
