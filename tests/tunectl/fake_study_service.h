// FakeStudyService: an in-process StudyService with canned studies and trials, served on
// 127.0.0.1 with an OS-chosen port, so tunectl's commands run against a real gRPC channel
// without a tuner-server. Thread-safe (gRPC calls it from its threads).
#ifndef TUNER_TESTS_TUNECTL_FAKE_STUDY_SERVICE_H_
#define TUNER_TESTS_TUNECTL_FAKE_STUDY_SERVICE_H_

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "proto/tuner.grpc.pb.h"

namespace tuner::tunectl::testing {

namespace v1 = ::tuner::v1;

inline v1::ParamValue IntParam(int64_t v) {
  v1::ParamValue p;
  p.set_int_value(v);
  return p;
}
inline v1::ParamValue FloatParam(double v) {
  v1::ParamValue p;
  p.set_float_value(v);
  return p;
}
inline v1::ParamValue StringParam(const std::string& v) {
  v1::ParamValue p;
  p.set_string_value(v);
  return p;
}

inline v1::Trial MakeTrial(int64_t id, int64_t study_id, int64_t number, v1::TrialState state,
                           int64_t units, double dropout, const std::string& optimizer,
                           double learning_rate) {
  v1::Trial t;
  t.set_trial_id(id);
  t.set_study_id(study_id);
  t.set_number(number);
  t.set_state(state);
  (*t.mutable_params())["units"] = IntParam(units);
  (*t.mutable_params())["dropout"] = FloatParam(dropout);
  (*t.mutable_params())["optimizer"] = StringParam(optimizer);
  (*t.mutable_params())["learning_rate"] = FloatParam(learning_rate);
  t.set_bracket(-1);
  t.set_budget_epochs(4);
  return t;
}

class FakeStudyService final : public v1::StudyService::Service {
 public:
  // The spec text that CreateStudy refuses, and the message it refuses it with.
  static constexpr const char* kBadSpecMarker = "kind: bayes";
  static constexpr const char* kBadSpecMessage =
      "algorithm.kind: must be one of random, grid, hyperband, asha (got \"bayes\") at line 2";

  FakeStudyService() {
    // Study 1 "cifar": two completed trials, one running.
    v1::Study cifar = NewStudy(1, "cifar", "random", 3);
    AddTrial(cifar, Completed(MakeTrial(11, 1, 0, v1::COMPLETED, 256, 0.3, "adam", 0.00123), 0.9123));
    AddTrial(cifar, Completed(MakeTrial(12, 1, 1, v1::COMPLETED, 128, 0.2, "rmsprop", 1e-05), 0.9345));
    v1::Trial running = MakeTrial(13, 1, 2, v1::RUNNING, 512, 0.5, "adam", 0.01);
    running.set_epochs_done(2);
    running.set_attempt(1);
    running.set_worker_name("w1");
    AddTrial(cifar, running);
    studies_[1] = cifar;
    // Study 2 "fresh": nothing completed yet.
    v1::Study fresh = NewStudy(2, "fresh", "grid", 6);
    AddTrial(fresh, MakeTrial(21, 2, 0, v1::PENDING, 128, 0.2, "adam", 0.001));
    studies_[2] = fresh;
    // Studies 3 and 4 share a name.
    studies_[3] = NewStudy(3, "dup", "random", 1);
    studies_[4] = NewStudy(4, "dup", "random", 1);
    studies_[4].set_spec_yaml("name: dup\n");
  }

  // Events WatchStudy streams (then it ends the stream OK). With pause_s > 0 it waits that
  // long, sending nothing, after the first pause_after events (a slow epoch).
  void SetWatchEvents(std::vector<v1::StudyEvent> events, size_t pause_after = 0,
                      double pause_s = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    watch_events_ = std::move(events);
    watch_pause_after_ = pause_after;
    watch_pause_s_ = pause_s;
  }
  // A study of the test's own, with its trials (counts and best follow them).
  void AddStudy(v1::Study study, const std::vector<v1::Trial>& trials) {
    std::lock_guard<std::mutex> lock(mu_);
    study.clear_trial_counts();
    for (const v1::Trial& trial : trials) AddTrial(study, trial);
    studies_[study.study_id()] = study;
  }
  // DeleteStudy: a study that is not running goes, with its trials (each with a checkpoint
  // counted as one); a running one is refused as the server refuses it.
  grpc::Status DeleteStudy(grpc::ServerContext* context, const v1::DeleteStudyRequest* request,
                           v1::DeleteStudyResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    auto it = studies_.find(request->study_id());
    if (it == studies_.end()) return NotFound(request->study_id());
    const std::string id = std::to_string(request->study_id());
    if (it->second.state() == v1::STUDY_RUNNING) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "study " + id + " is running: stop it first (tunectl stop " + id +
                              "), then delete it");
    }
    response->set_study_id(request->study_id());
    response->set_name(it->second.name());
    for (const v1::Trial& trial : trials_[request->study_id()]) {
      response->set_trials_deleted(response->trials_deleted() + 1);
      if (!trial.checkpoint_id().empty()) {
        response->set_checkpoints_deleted(response->checkpoints_deleted() + 1);
      }
    }
    trials_.erase(request->study_id());
    studies_.erase(it);
    return grpc::Status::OK;
  }

  // What ListWorkers answers.
  void SetWorkers(std::vector<v1::Worker> workers) {
    std::lock_guard<std::mutex> lock(mu_);
    workers_ = std::move(workers);
  }

  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* /*request*/,
                           v1::ListWorkersResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    for (const v1::Worker& worker : workers_) *response->add_workers() = worker;
    return grpc::Status::OK;
  }
  std::vector<v1::TrialState> last_state_filter() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_state_filter_;
  }
  std::string last_spec() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_spec_;
  }
  std::map<std::string, std::string> last_metadata() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_metadata_;
  }

  // The next n CreateStudy calls answer UNAVAILABLE, as a server whose commit failed would.
  void FailCreates(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_creates_ = n;
  }
  // The request_id of every CreateStudy call so far, in order.
  std::vector<std::string> create_request_ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return create_request_ids_;
  }

  grpc::Status CreateStudy(grpc::ServerContext* context, const v1::CreateStudyRequest* request,
                           v1::CreateStudyResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    last_spec_ = request->spec_yaml();
    create_request_ids_.push_back(request->request_id());
    if (failing_creates_ > 0) {
      --failing_creates_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "db: database is locked");
    }
    if (request->spec_yaml().find(kBadSpecMarker) != std::string::npos) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, kBadSpecMessage);
    }
    const int64_t id = studies_.rbegin()->first + 1;
    studies_[id] = NewStudy(id, "new-study", "random", 10);
    response->set_study_id(id);
    *response->mutable_study() = studies_[id];
    return grpc::Status::OK;
  }

  grpc::Status GetStudy(grpc::ServerContext* context, const v1::GetStudyRequest* request,
                        v1::Study* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    auto it = studies_.find(request->study_id());
    if (it == studies_.end()) return NotFound(request->study_id());
    *response = it->second;
    return grpc::Status::OK;
  }

  // ListStudies and ListTrials answer kPageSize items a page (or page_size), so tunectl has to
  // follow next_page_token to see everything; the token is the offset of the next item.
  static constexpr int kPageSize = 2;
  int list_pages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return list_pages_;
  }

  grpc::Status ListStudies(grpc::ServerContext* context, const v1::ListStudiesRequest* request,
                           v1::ListStudiesResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    ++list_pages_;
    std::vector<v1::Study> all;
    for (auto it = studies_.rbegin(); it != studies_.rend(); ++it) {  // out of order on purpose
      all.push_back(it->second);
      if (!request->with_spec_yaml()) all.back().clear_spec_yaml();
    }
    return Page(all, request->page_size(), request->page_token(), response->mutable_studies(),
                response->mutable_next_page_token());
  }

  grpc::Status ListTrials(grpc::ServerContext* context, const v1::ListTrialsRequest* request,
                          v1::ListTrialsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    if (studies_.count(request->study_id()) == 0) return NotFound(request->study_id());
    ++list_pages_;
    last_state_filter_.clear();
    for (int state : request->states()) last_state_filter_.push_back(static_cast<v1::TrialState>(state));
    auto& trials = trials_[request->study_id()];
    std::vector<v1::Trial> all;
    for (auto it = trials.rbegin(); it != trials.rend(); ++it) {  // out of order on purpose
      const bool wanted = request->states().empty() ||
                          std::count(request->states().begin(), request->states().end(),
                                     it->state()) > 0;
      if (!wanted) continue;
      v1::Trial& trial = all.emplace_back(*it);
      if (request->with_intermediate_values() && trial.epochs_done() > 0) {
        v1::IntermediateValue* v = trial.add_intermediate_values();
        v->set_epoch(1);
        v->set_value(0.5);
        (*v->mutable_metrics())["val_loss"] = 0.7;
      }
    }
    return Page(all, request->page_size(), request->page_token(), response->mutable_trials(),
                response->mutable_next_page_token());
  }

  grpc::Status GetBestTrials(grpc::ServerContext* context, const v1::GetBestTrialsRequest* request,
                             v1::GetBestTrialsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    if (studies_.count(request->study_id()) == 0) return NotFound(request->study_id());
    std::vector<v1::Trial> completed;
    for (const v1::Trial& t : trials_[request->study_id()]) {
      if (t.state() == v1::COMPLETED) completed.push_back(t);
    }
    std::sort(completed.begin(), completed.end(),
              [](const v1::Trial& a, const v1::Trial& b) { return a.value() > b.value(); });
    const size_t k = std::max(1, request->k());
    for (size_t i = 0; i < std::min(k, completed.size()); ++i) *response->add_trials() = completed[i];
    for (const v1::Ensemble& e : ensembles_) {
      if (e.study_id() == request->study_id() && e.state() == v1::ENSEMBLE_COMPLETED) {
        *response->mutable_latest_ensemble() = e;
      }
    }
    return grpc::Status::OK;
  }

  // Ensembles: created PENDING from the best COMPLETED trials; the next ListEnsembles finds
  // them evaluated (test accuracy 0.95, members 0.93, 0.92, ...) or, after
  // SetEnsembleFailure, FAILED with that reason.
  void SetEnsembleFailure(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    ensemble_failure_ = reason;
  }

  grpc::Status CreateEnsemble(grpc::ServerContext* context,
                              const v1::CreateEnsembleRequest* request,
                              v1::Ensemble* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    if (studies_.count(request->study_id()) == 0) return NotFound(request->study_id());
    std::vector<v1::Trial> completed;
    for (const v1::Trial& t : trials_[request->study_id()]) {
      if (t.state() == v1::COMPLETED) completed.push_back(t);
    }
    if (static_cast<size_t>(request->k()) > completed.size()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "k: study " + std::to_string(request->study_id()) + " has " +
                              std::to_string(completed.size()) +
                              " COMPLETED trial(s), fewer than k = " +
                              std::to_string(request->k()));
    }
    std::sort(completed.begin(), completed.end(),
              [](const v1::Trial& a, const v1::Trial& b) { return a.value() > b.value(); });
    v1::Ensemble e;
    e.set_ensemble_id(static_cast<int64_t>(ensembles_.size()) + 1);
    e.set_study_id(request->study_id());
    e.set_k(request->k());
    e.set_state(v1::ENSEMBLE_PENDING);
    for (int i = 0; i < request->k(); ++i) {
      v1::EnsembleMember* member = e.add_members();
      member->set_trial_id(completed[i].trial_id());
      member->set_trial_number(completed[i].number());
      *member->mutable_params() = completed[i].params();
      member->set_value(completed[i].value());
      member->set_checkpoint_id("ckpt" + std::to_string(completed[i].trial_id()));
    }
    ensembles_.push_back(e);
    *response = e;
    return grpc::Status::OK;
  }

  grpc::Status ListEnsembles(grpc::ServerContext* context,
                             const v1::ListEnsemblesRequest* request,
                             v1::ListEnsemblesResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    if (studies_.count(request->study_id()) == 0) return NotFound(request->study_id());
    for (v1::Ensemble& e : ensembles_) {
      if (e.study_id() != request->study_id()) continue;
      if (e.state() == v1::ENSEMBLE_PENDING) {
        e.set_attempt(1);
        e.set_worker_name("gpu0");
        if (!ensemble_failure_.empty()) {
          e.set_state(v1::ENSEMBLE_FAILED);
          e.set_fail_reason(ensemble_failure_);
        } else {
          e.set_state(v1::ENSEMBLE_COMPLETED);
          e.set_has_test_accuracy(true);
          e.set_test_accuracy(0.95);
          e.set_test_images(10000);
          for (int i = 0; i < e.members_size(); ++i) {
            e.mutable_members(i)->set_has_test_accuracy(true);
            e.mutable_members(i)->set_test_accuracy(0.93 - 0.01 * i);
          }
        }
      }
      *response->add_ensembles() = e;
    }
    return grpc::Status::OK;
  }

  grpc::Status StopStudy(grpc::ServerContext* context, const v1::StopStudyRequest* request,
                         v1::Study* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    auto it = studies_.find(request->study_id());
    if (it == studies_.end()) return NotFound(request->study_id());
    it->second.set_state(v1::STUDY_STOPPED);
    *response = it->second;
    return grpc::Status::OK;
  }

  // Study 1 takes the four params of its trials; units must be one of 128, 256, 512 (given as
  // text, as tunectl sends it). Other studies refuse as grid studies do.
  grpc::Status EnqueueTrial(grpc::ServerContext* context, const v1::EnqueueTrialRequest* request,
                            v1::EnqueueTrialResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record(context);
    last_enqueue_ = *request;
    if (studies_.count(request->study_id()) == 0) return NotFound(request->study_id());
    if (request->study_id() != 1) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "enqueue works with random and asha studies");
    }
    auto units = request->params().find("units");
    const std::string text = units == request->params().end() ? "" : units->second.string_value();
    if (text != "128" && text != "256" && text != "512") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "params.units: must be one of 128, 256, 512 (got " + text + ")");
    }
    std::vector<v1::Trial>& trials = trials_[1];
    v1::Trial trial = MakeTrial(100 + static_cast<int64_t>(trials.size()), 1,
                                static_cast<int64_t>(trials.size()), v1::PENDING, std::stoi(text),
                                0.3, "adam", 0.001);
    AddTrial(studies_[1], trial);
    *response->mutable_trial() = trial;
    return grpc::Status::OK;
  }
  v1::EnqueueTrialRequest last_enqueue() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_enqueue_;
  }

  grpc::Status WatchStudy(grpc::ServerContext* context, const v1::WatchStudyRequest* request,
                          grpc::ServerWriter<v1::StudyEvent>* writer) override {
    std::vector<v1::StudyEvent> events;
    size_t pause_after = 0;
    double pause_s = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Record(context);
      if (studies_.count(request->study_id()) == 0) return NotFound(request->study_id());
      events = watch_events_;
      pause_after = watch_pause_after_;
      pause_s = watch_pause_s_;
    }
    for (size_t i = 0; i < events.size(); ++i) {
      if (i == pause_after && pause_s > 0) {
        const auto until = std::chrono::steady_clock::now() +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(pause_s));
        while (std::chrono::steady_clock::now() < until && !context->IsCancelled()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
      writer->Write(events[i]);
    }
    return grpc::Status::OK;
  }

 private:
  static grpc::Status NotFound(int64_t id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "study " + std::to_string(id) + " not found");
  }
  static v1::Study NewStudy(int64_t id, const std::string& name, const std::string& algorithm,
                            int64_t planned) {
    v1::Study s;
    s.set_study_id(id);
    s.set_name(name);
    s.set_state(v1::STUDY_RUNNING);
    s.set_algorithm(algorithm);
    s.set_objective_metric("val_accuracy");
    s.set_direction(v1::MAXIMIZE);
    s.set_planned_trials(planned);
    s.set_created_at(1'700'000'000);
    return s;
  }
  static v1::Trial Completed(v1::Trial t, double value) {
    t.set_has_value(true);
    t.set_value(value);
    t.set_epochs_done(4);
    t.set_attempt(1);
    t.set_worker_name("w2");
    (*t.mutable_metrics())["val_accuracy"] = value;
    (*t.mutable_metrics())["val_loss"] = 0.25;
    return t;
  }
  void AddTrial(v1::Study& study, const v1::Trial& trial) {
    trials_[study.study_id()].push_back(trial);
    (*study.mutable_trial_counts())[v1::TrialState_Name(trial.state())] += 1;
    if (trial.state() == v1::COMPLETED &&
        (!study.has_best() || trial.value() > study.best_trial().value())) {
      study.set_has_best(true);
      *study.mutable_best_trial() = trial;
    }
  }
  // One page of `all` into out: page_size items (kPageSize when 0) from the token's offset.
  template <typename T>
  static grpc::Status Page(const std::vector<T>& all, int page_size, const std::string& token,
                           google::protobuf::RepeatedPtrField<T>* out, std::string* next) {
    const size_t size = page_size > 0 ? page_size : kPageSize;
    size_t from = 0;
    if (!token.empty()) {
      try {
        from = std::stoul(token);
      } catch (const std::exception&) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: bad");
      }
    }
    for (size_t i = from; i < std::min(all.size(), from + size); ++i) *out->Add() = all[i];
    if (from + size < all.size()) *next = std::to_string(from + size);
    return grpc::Status::OK;
  }
  void Record(grpc::ServerContext* context) {
    last_metadata_.clear();
    for (const auto& [key, value] : context->client_metadata()) {
      last_metadata_[std::string(key.data(), key.size())] = std::string(value.data(), value.size());
    }
  }

  mutable std::mutex mu_;
  std::map<int64_t, v1::Study> studies_;                 // guarded by mu_
  std::map<int64_t, std::vector<v1::Trial>> trials_;     // guarded by mu_
  std::vector<v1::StudyEvent> watch_events_;             // guarded by mu_
  size_t watch_pause_after_ = 0;                         // guarded by mu_
  double watch_pause_s_ = 0;                             // guarded by mu_
  std::vector<v1::Worker> workers_;                      // guarded by mu_
  std::vector<v1::TrialState> last_state_filter_;        // guarded by mu_
  std::string last_spec_;                                // guarded by mu_
  std::vector<std::string> create_request_ids_;          // guarded by mu_
  int failing_creates_ = 0;                              // guarded by mu_
  v1::EnqueueTrialRequest last_enqueue_;                 // guarded by mu_
  std::map<std::string, std::string> last_metadata_;     // guarded by mu_
  std::vector<v1::Ensemble> ensembles_;                  // guarded by mu_
  std::string ensemble_failure_;                         // guarded by mu_
  int list_pages_ = 0;                                   // guarded by mu_
};

// Serves a FakeStudyService on 127.0.0.1 with a port the OS picks.
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeStudyService& service() { return service_; }

 private:
  FakeStudyService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace tuner::tunectl::testing

#endif  // TUNER_TESTS_TUNECTL_FAKE_STUDY_SERVICE_H_
