// Scheduler: the tuner-server's state machine. It owns every study's trials in memory, asks
// each study's SearchPolicy (search/, pure) what to run next, hands out leases, and mirrors
// every state change to SQLite through the GroupCommitter. Replies that acknowledge a change
// are sent from the commit callback, so what a client or worker was told survives kill -9.
//
// Thread-safe: every public method may be called from any gRPC or timer thread; one mutex
// guards all state. Callbacks (Done) run after the commit, on the committer's thread, and
// never under the mutex.
#ifndef TUNER_TUNER_SERVER_SCHEDULER_H_
#define TUNER_TUNER_SERVER_SCHEDULER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/tuner.pb.h"
#include "search/policy.h"
#include "search/study_spec.h"
#include "storage/group_committer.h"
#include "storage/rows.h"

namespace tuner::server {

namespace v1 = ::tuner::v1;

// A FailTrial / FailEnsemble reason is stored cut to this many bytes, on a UTF-8 character
// boundary (a reply that carries invalid UTF-8 fails on every client).
inline constexpr size_t kMaxFailReasonBytes = 4096;

struct SchedulerOptions {
  double lease_seconds = 30;        // a worker heartbeats at least every third of it
  double max_wait_seconds = 20;     // cap on AcquireTrial's long-poll
  int64_t max_studies = 10000;
  int64_t max_workers = 100000;     // distinct worker names ever registered
  std::function<double()> clock;    // unix seconds; the system clock when empty
  // A new lease's token; NewLeaseToken() (128 bits from the CSPRNG) when empty. For fuzzing.
  std::function<std::string()> lease_token;
};

// Point-in-time counts for the metrics endpoint.
struct SchedulerGauges {
  std::map<std::pair<int64_t, std::string>, int64_t> trials;  // (study id, state) -> count
  std::map<std::string, int64_t> studies;                     // state -> count
  int64_t leases = 0;
  int64_t workers = 0;
  int64_t parked_acquires = 0;
};

class Scheduler {
 public:
  using Done = std::function<void(const absl::Status&)>;

  Scheduler(SchedulerOptions options, storage::GroupCommitter* committer,
            storage::Database* reader);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Rebuilds the state from the db after a (re)start. Leases of RUNNING trials get a fresh
  // deadline so workers that survived the restart keep their trials.
  absl::Status Load(const storage::Snapshot& snapshot,
                    const std::vector<storage::CheckpointRow>& checkpoints);

  // ---- StudyService
  void CreateStudy(const v1::CreateStudyRequest& request, v1::CreateStudyResponse* response,
                   Done done);
  absl::Status GetStudy(int64_t study_id, v1::Study* study);
  // One page each (see pagination.h); INVALID_ARGUMENT for a bad page_size or page_token.
  absl::Status ListStudies(const v1::ListStudiesRequest& request,
                           v1::ListStudiesResponse* response);
  absl::Status ListTrials(const v1::ListTrialsRequest& request, v1::ListTrialsResponse* response);
  absl::Status GetBestTrials(const v1::GetBestTrialsRequest& request,
                             v1::GetBestTrialsResponse* response);
  void StopStudy(int64_t study_id, v1::Study* response, Done done);
  // Creates the study's next trial with the request's params (checked against the space), as
  // its policy places it: see search::SearchPolicy::Enqueue.
  void EnqueueTrial(const v1::EnqueueTrialRequest& request, v1::EnqueueTrialResponse* response,
                    Done done);
  // For WatchStudy: the study plus the trials changed since *version (then advanced).
  absl::Status Poll(int64_t study_id, uint64_t* version, v1::Study* study,
                    std::vector<v1::Trial>* changed, bool* finished);

  // ---- WorkerService
  void RegisterWorker(const v1::RegisterWorkerRequest& request,
                      v1::RegisterWorkerResponse* response, Done done);
  // Answers at once when a trial is available, else parks until one is or the wait ends.
  void AcquireTrial(const v1::AcquireTrialRequest& request, v1::AcquireTrialResponse* response,
                    Done done);
  // The call of a parked AcquireTrial (the one answering into *response) is gone: cancelled, or
  // its deadline passed. Takes it off the waiters so no trial is handed to it. True when it was
  // still parked: its Done will then never run, and the caller finishes the call. False when
  // it was already answered (or its answer is on the way).
  bool CancelAcquire(const v1::AcquireTrialResponse* response);
  // The lease an AcquireTrial answered with never reached its worker (the call failed after
  // the answer was sent). The trial (or ensemble job) is PENDING again without counting a
  // failed attempt, and goes to the next worker. Nothing happens when the lease is no longer
  // the current one. done may be empty.
  void ReturnLease(const v1::Lease& lease, Done done);
  void Heartbeat(const v1::HeartbeatRequest& request, v1::HeartbeatResponse* response, Done done);
  void ReportIntermediate(const v1::ReportIntermediateRequest& request,
                          v1::ReportIntermediateResponse* response, Done done);
  void CompleteTrial(const v1::CompleteTrialRequest& request, v1::CompleteTrialResponse* response,
                     Done done);
  void FailTrial(const v1::FailTrialRequest& request, v1::FailTrialResponse* response, Done done);

  // ---- Checkpoints (files are handled by CheckpointStore; the scheduler keeps the metadata)
  // OK when lease is the current lease of a RUNNING trial; *trial_id is set.
  absl::Status CheckLease(const v1::Lease& lease);
  void AddCheckpoint(const storage::CheckpointRow& row, Done done);
  absl::StatusOr<storage::CheckpointRow> FindCheckpoint(const std::string& id, int64_t worker_id);

  // ---- Ensembles (scheduler_ensembles.cc): a top-k ensemble is a unit of work leased to a
  // worker like a trial (AcquireTrial, Heartbeat, lease expiry, retries up to max_attempts).
  void CreateEnsemble(const v1::CreateEnsembleRequest& request, v1::Ensemble* response,
                      Done done);
  absl::Status ListEnsembles(const v1::ListEnsemblesRequest& request,
                             v1::ListEnsemblesResponse* response);
  void CompleteEnsemble(const v1::CompleteEnsembleRequest& request, v1::Ensemble* response,
                        Done done);
  void FailEnsemble(const v1::FailEnsembleRequest& request, v1::Ensemble* response, Done done);

  // ---- Timers: expires leases and long-polls. Called periodically by the server.
  void Tick();
  // Answers every parked long-poll (has_trial=false) so the server can shut down.
  void Shutdown();

  // For logs and tests.
  int64_t ParkedAcquires();
  SchedulerGauges Gauges();

 private:
  struct TrialExtra {  // what the policy does not need to see
    int64_t id = 0;
    std::map<std::string, double> metrics;
    int epochs_done = 0;
    int attempt = 0;
    int retries = 0;
    int64_t worker_id = 0;
    double lease_deadline = 0;
    std::string lease_token;  // the current lease's secret; see lease_token.h
    std::string checkpoint_id;
    std::string fail_reason;
    double created_at = 0;
    double started_at = 0;
    double finished_at = 0;
    uint64_t version = 0;     // study version of its last change (for WatchStudy)
    // The pruner answered stop: the trial ends PRUNED whether it completes or fails. Not in
    // the db: after a restart a trial told to stop before it completes ends COMPLETED.
    bool prune_requested = false;
  };
  struct StudyEntry {
    storage::StudyRow row;
    search::StudySpec spec;
    std::unique_ptr<search::SearchPolicy> policy;
    std::vector<search::TrialRecord> history;  // by trial number: what the policy sees
    std::vector<TrialExtra> extra;             // by trial number
    std::set<int64_t> pending;                 // trial numbers, lowest first
    std::set<int64_t> running;                 // trial numbers
    std::array<int64_t, 7> counts{};           // by search::TrialState
    uint64_t version = 0;
  };
  struct Waiter {
    int64_t worker_id;
    v1::AcquireTrialResponse* response;
    Done done;
    double deadline;
    bool accepts_ensembles;
  };
  struct EnsembleEntry {
    storage::EnsembleRow row;
    std::vector<int64_t> members;            // trial ids, best first
    std::vector<double> member_accuracies;   // once COMPLETED
    double lease_deadline = 0;               // RUNNING only; not in the db
  };
  using Ops = std::vector<storage::WriteOp>;

  double Now() const;
  // A token for a new lease (options_.lease_token, else the CSPRNG).
  absl::StatusOr<std::string> NewToken() const;
  StudyEntry* FindStudy(int64_t study_id);
  // Finds the trial a lease names and checks that the lease still holds.
  absl::Status FindLease(const v1::Lease& lease, StudyEntry** study, int64_t* number,
                         bool allow_stopped);
  void SetState(StudyEntry& study, int64_t number, search::TrialState state);
  // Records one intermediate value and refreshes the trial's per-epoch mean.
  static void AddReport(StudyEntry& study, int64_t number, int execution, int epoch,
                        double value);
  void Touch(StudyEntry& study, int64_t number, Ops& ops);
  storage::TrialRow ToRow(const StudyEntry& study, int64_t number) const;
  void FillTrial(const StudyEntry& study, int64_t number, v1::Trial* trial) const;
  void FillStudy(const StudyEntry& study, v1::Study* out) const;
  void FillAshaBrackets(const StudyEntry& study, v1::Study* out) const;
  // Appends a PENDING trial; returns its number.
  int64_t AddTrial(StudyEntry& study, search::NewTrial fresh, Ops& ops);
  // Applies the policy's plan (promotions, prunes, up to max_new new trials) and completes the
  // study when nothing is left.
  void Advance(StudyEntry& study, int max_new, Ops& ops);
  bool TryLease(int64_t worker_id, bool accepts_ensembles, v1::AcquireTrialResponse* response,
                Ops& ops);
  // Leases the oldest PENDING ensemble, if any.
  bool TryLeaseEnsemble(int64_t worker_id, v1::AcquireTrialResponse* response, Ops& ops);
  absl::Status FindEnsembleLease(const v1::Lease& lease, EnsembleEntry** ensemble);
  void FillEnsemble(const EnsembleEntry& ensemble, v1::Ensemble* out) const;
  // Re-queues or fails an ensemble whose lease ended badly.
  void RetryEnsemble(EnsembleEntry& ensemble, const std::string& reason, bool retryable,
                     Ops& ops);
  void ExpireEnsembleLeases(double now);
  absl::Status LoadEnsembles(const std::vector<storage::EnsembleRow>& rows, double now);
  // Hands trials to parked long-polls while there are some.
  void ServeWaiters();
  // Re-queues or fails a trial whose lease ended badly.
  void Retry(StudyEntry& study, int64_t number, const std::string& reason, bool retryable,
             Ops& ops);
  void Commit(Ops ops, Done done);

  // Constant after construction.
  const SchedulerOptions options_;
  storage::GroupCommitter* const committer_;

  std::mutex mu_;
  std::map<int64_t, StudyEntry> studies_;                                     // guarded by mu_
  std::unordered_map<int64_t, std::pair<int64_t, int64_t>> trial_index_;     // id -> study, number
  std::map<int64_t, storage::WorkerRow> workers_;                            // guarded by mu_
  std::unordered_map<std::string, storage::CheckpointRow> checkpoints_;      // guarded by mu_
  std::deque<Waiter> waiters_;                                               // guarded by mu_
  std::map<int64_t, EnsembleEntry> ensembles_;                               // guarded by mu_
  int64_t next_ensemble_id_ = 1;                                             // guarded by mu_
  int64_t next_study_id_ = 1;                                                // guarded by mu_
  int64_t next_trial_id_ = 1;                                                // guarded by mu_
  int64_t next_worker_id_ = 1;                                               // guarded by mu_
  int64_t round_robin_ = 0;  // last study that got a lease                     guarded by mu_
  bool shut_down_ = false;                                                   // guarded by mu_

  std::mutex reader_mu_;
  storage::Database* const reader_;  // guarded by reader_mu_; intermediate values only
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_SCHEDULER_H_
