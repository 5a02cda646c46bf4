// Scheduler: the tuner-server's state machine. It owns every study's trials in memory, asks
// each study's SearchPolicy (search/, pure) what to run next, hands out leases, and mirrors
// every state change to SQLite through the GroupCommitter. Replies that acknowledge a change
// are sent from the commit callback, so what a client or worker was told survives kill -9.
//
// A trial's path, file by file (all one class):
//   request_validation.cc    the RPC's own fields, checked before any state is looked at
//   scheduler.cc             StudyService: create, stop, enqueue, list, watch (Poll)
//   scheduler_workers.cc     RegisterWorker, AcquireTrial (TryLease, parked long-polls), the
//                            lease timers (Tick) and Shutdown
//   scheduler_trial_calls.cc the calls on a held trial lease: Heartbeat, ReportIntermediate,
//                            CompleteTrial, FailTrial
//   scheduler_checkpoints.cc checkpoint metadata: record, find for a lease, per-trial limit,
//                            garbage collection
//   scheduler_trials.cc      every trial state change (SetState, Retry, Advance: the policy's
//                            plan) and the row each change writes
//   scheduler_ensembles.cc   top-k ensemble jobs, leased like trials
//   scheduler_commits.cc     staged changes: applied in memory once their rows committed
//   scheduler_load.cc        the state rebuilt from the db at start-up
//   scheduler_view.cc        the proto views (Study, Trial) and the gauges
//   lease_table.h            the lease machinery trials and ensemble jobs share
//
// Thread-safe: every public method may be called from any gRPC or timer thread; one mutex
// (mu_) guards all state, checked by clang's -Wthread-safety (the tsa preset). No Done
// callback runs under mu_: answers decided under it are collected (replies.h) and sent after
// it is released; answers that wait for a commit run on the committer's thread.
#ifndef TUNER_TUNER_SERVER_SCHEDULER_H_
#define TUNER_TUNER_SERVER_SCHEDULER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/tuner.pb.h"
#include "search/policy.h"
#include "search/study_spec.h"
#include "storage/group_committer.h"
#include "storage/rows.h"
#include "tuner-server/lease_table.h"
#include "tuner-server/replies.h"

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
  // A trial keeps its newest checkpoints_per_trial uploads (and the one it recorded last).
  int checkpoints_per_trial = 2;
  // Removes a checkpoint's file once the deletion of its row committed (committer's thread,
  // not under mu_). May be empty (no files, as in the fuzz target).
  std::function<void(const storage::CheckpointRow&)> remove_checkpoint;
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
  // Records an uploaded checkpoint (its file is durable) once lease, the upload's, still holds;
  // the row is in memory only after its commit. Then the trial's uploads beyond the newest
  // options_.checkpoints_per_trial are deleted (never the one the trial recorded).
  void AddCheckpoint(const v1::Lease& lease, const storage::CheckpointRow& row, Done done);
  // The checkpoint a download asks for, when the request's lease holds and covers it: its
  // trial's own, or a member's of its ensemble job. PERMISSION_DENIED for another's.
  absl::StatusOr<storage::CheckpointRow> FindCheckpoint(
      const v1::DownloadCheckpointRequest& request);
  // Deletes the checkpoints nothing needs any more: of trials that are gone, or finished
  // (COMPLETED, PRUNED, FAILED) unless their study keeps checkpoints (the one each recorded)
  // or an unfinished ensemble job evaluates them. Run by Tick (after the commits that finished
  // those trials were queued) and at start-up.
  void CollectCheckpoints();
  // Every recorded checkpoint (start-up, tests).
  std::vector<storage::CheckpointRow> Checkpoints();

  // ---- Ensembles (scheduler_ensembles.cc): a top-k ensemble is a unit of work leased to a
  // worker like a trial (AcquireTrial, Heartbeat, lease expiry, retries up to max_attempts).
  void CreateEnsemble(const v1::CreateEnsembleRequest& request, v1::Ensemble* response,
                      Done done);
  absl::Status ListEnsembles(const v1::ListEnsemblesRequest& request,
                             v1::ListEnsemblesResponse* response);
  // Removes a study that ended, with its trials, ensembles and checkpoints, once that
  // committed (scheduler_lifecycle.cc). FAILED_PRECONDITION while it runs or an ensemble job
  // of it is unfinished.
  void DeleteStudy(const v1::DeleteStudyRequest& request, v1::DeleteStudyResponse* response,
                   Done done);
  // Every registered worker, with the trial or ensemble job it holds (scheduler_view.cc).
  absl::Status ListWorkers(const v1::ListWorkersRequest& request,
                           v1::ListWorkersResponse* response);
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
  // What the policy does not need to see. A trial's lease (attempt, retries, holder, token,
  // deadline) is in leases_, under LeaseKey{kTrial, id}.
  struct TrialExtra {
    int64_t id = 0;
    std::map<std::string, double> metrics;
    int epochs_done = 0;
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
    // id, name, spec_yaml, created_at, finished_at; its state is `state` (StudyRowOf() writes
    // both into the row).
    storage::StudyRow row;
    v1::StudyState state = v1::STUDY_RUNNING;
    search::StudySpec spec;
    std::unique_ptr<search::SearchPolicy> policy;
    std::vector<search::TrialRecord> history;  // by trial number: what the policy sees
    std::vector<TrialExtra> extra;             // by trial number
    std::set<int64_t> pending;                 // trial numbers, lowest first
    std::set<int64_t> running;                 // trial numbers
    std::array<int64_t, 7> counts{};           // by search::TrialState
    uint64_t version = 0;
    // StopStudy and EnqueueTrial calls whose commit is on its way. While a stop commits,
    // nothing of the study is leased or planned; while an enqueue commits, the policy plans
    // nothing (the enqueued trials take the next numbers, in the order of their calls).
    int stops_committing = 0;
    int enqueues_committing = 0;
  };
  struct Waiter {
    int64_t worker_id;
    v1::AcquireTrialResponse* response;
    Done done;
    double deadline;
    bool accepts_ensembles;
  };
  // A top-k ensemble job. Its lease (attempt, retries, holder, token) is in leases_, under
  // LeaseKey{kEnsemble, id}; its state is `state` (EnsembleRowOf() writes both into the row).
  struct EnsembleEntry {
    storage::EnsembleRow row;
    v1::EnsembleState state = v1::ENSEMBLE_PENDING;
    std::vector<int64_t> members;            // trial ids, best first
    std::vector<double> member_accuracies;   // once COMPLETED
  };
  using Ops = std::vector<storage::WriteOp>;
  // A trial's or an ensemble job's whole state: a change is staged on the live state to learn
  // the rows it writes, the state is put back as it was, and what the change left is
  // installed once those rows committed (scheduler_commits.cc).
  struct TrialSnapshot {
    search::TrialRecord record;
    TrialExtra extra;
    LeaseState lease;
  };
  struct EnsembleSnapshot {
    EnsembleEntry entry;
    LeaseState lease;
  };
  // What a call on a held lease may do (HoldLease): look (a checkpoint), renew (Heartbeat),
  // report (ReportIntermediate: also while the study is stopped, not while the lease's end or
  // grant commits) or end it (CompleteTrial, FailTrial, CompleteEnsemble, FailEnsemble: not
  // while any other change of it commits).
  enum class LeaseUse { kLook, kRenew, kReport, kEnd };
  // Which leases a call takes: a trial's, an ensemble job's, or either (by lease.ensemble_id).
  enum class LeaseOf { kTrial, kEnsemble, kEither };
  // The unit of work a held lease names: a trial (study, number) or an ensemble job.
  struct HeldLease {
    StudyEntry* study = nullptr;
    int64_t number = 0;
    EnsembleEntry* ensemble = nullptr;
  };

  static LeaseKey TrialKey(int64_t trial_id) { return {LeaseKind::kTrial, trial_id}; }
  static LeaseKey EnsembleKey(int64_t ensemble_id) { return {LeaseKind::kEnsemble, ensemble_id}; }

  double Now() const;
  // A token for a new lease (options_.lease_token, else the CSPRNG).
  absl::StatusOr<std::string> NewToken() const;
  StudyEntry* FindStudy(int64_t study_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues ops for the db (in the order of the calls: hence under mu_); done runs once they
  // are durable, on the committer's thread. on_failure: see GroupCommitter; kDrop where the
  // change is applied in memory only from done, once it committed.
  void Commit(Ops ops, Done done,
              storage::GroupCommitter::OnFailure on_failure =
                  storage::GroupCommitter::OnFailure::kRetry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CreateStudy's commit ended: the study is in memory from now on when it committed, and
  // every call waiting on it (the first and its retries with the same request_id) is answered.
  // On the committer's thread.
  void FinishCreateStudy(std::shared_ptr<StudyEntry> study, v1::CreateStudyResponse* response,
                         Done done, const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  // ---- Trial state (scheduler_trials.cc)
  void SetState(StudyEntry& study, int64_t number, search::TrialState state);
  // Records one intermediate value and refreshes the trial's per-epoch mean.
  static void AddReport(StudyEntry& study, int64_t number, int execution, int epoch,
                        double value);
  // Bumps the trial's version (WatchStudy) and queues its row.
  void Touch(StudyEntry& study, int64_t number, Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  storage::TrialRow ToRow(const StudyEntry& study, int64_t number) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static storage::TrialRow ToRow(int64_t study_id, const search::TrialRecord& record,
                                 const TrialExtra& extra, const LeaseRecord& lease);
  static storage::StudyRow StudyRowOf(const StudyEntry& study);
  // Appends a PENDING trial; returns its number.
  int64_t AddTrial(StudyEntry& study, search::NewTrial fresh, Ops& ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A new trial's record and extra (id, number and created_at set), not yet in the study.
  std::pair<search::TrialRecord, TrialExtra> NewTrialOf(int64_t number, int64_t id,
                                                         search::NewTrial fresh) const;
  // Appends the trial (its number the study's next) and queues its row.
  int64_t InsertTrial(StudyEntry& study, search::TrialRecord record, TrialExtra extra, Ops& ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the policy's plan (promotions, prunes, up to max_new new trials) and completes the
  // study when nothing is left.
  void Advance(StudyEntry& study, int max_new, Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ---- Checkpoints (scheduler_checkpoints.cc)
  // Drops the rows from memory and queues their deletion; their files go once it committed.
  void DeleteCheckpoints(std::vector<storage::CheckpointRow> rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Re-queues, fails or prunes a trial whose lease ended badly; the caller then Advances.
  void Retry(StudyEntry& study, int64_t number, const std::string& reason, bool retryable,
             Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Staged changes (scheduler_commits.cc; issue 13 row 5)
  TrialSnapshot SaveTrial(const StudyEntry& study, int64_t number) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PutTrial(StudyEntry& study, int64_t number, TrialSnapshot snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a staged change of the trial: returns the state the change left and puts back
  // `before` (SaveTrial's, taken before the change). The rows the change queued stay queued.
  TrialSnapshot Unstage(StudyEntry& study, int64_t number, TrialSnapshot before)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  EnsembleSnapshot SaveEnsemble(const EnsembleEntry& ensemble) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  EnsembleSnapshot UnstageEnsemble(EnsembleEntry& ensemble, EnsembleSnapshot before)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Commits the staged change of a call that ends a lease (`ops`, kDrop) and marks the lease
  // as committing until it landed; then `after` is installed (or nothing, when it failed),
  // the study advances, and done is answered.
  // `applied` is logged once it committed.
  void CommitTrialEnd(int64_t trial_id, const char* call, TrialSnapshot after, Ops ops,
                      std::string applied, Done done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CommitEnsembleEnd(int64_t ensemble_id, const char* call, EnsembleSnapshot after,
                         v1::Ensemble* response, Ops ops, Done done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A trial a stopped study did not stop because a call on it was committing is stopped now,
  // unless that call finished it.
  void StopIfStudyStopped(StudyEntry& study, int64_t number, Ops& ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The end of a staged StopStudy: the study and the trials it stopped (number, version when
  // staged) are applied when it committed; a trial changed since is stopped with a new row.
  void FinishStopStudy(int64_t study_id, std::vector<std::pair<int64_t, uint64_t>> stopped,
                       double finished_at, v1::Study* response, Done done,
                       const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // The end of a staged EnqueueTrial: the trial joins the study when its row committed.
  void FinishEnqueue(int64_t study_id, TrialSnapshot trial, v1::EnqueueTrialResponse* response,
                     Done done, const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the policy may plan the study's trials now: it is running and neither a stop nor
  // an enqueue of it is committing.
  static bool MayPlan(const StudyEntry& study);

  // ---- Leasing (scheduler_workers.cc, scheduler_trial_calls.cc)
  // The prologue of every call on a held lease: the request's own check (`valid`), the trial
  // or ensemble job the lease names and whether the lease still holds (FindLease,
  // FindEnsembleLease), and whether another change of it is still committing (UNAVAILABLE:
  // retry once it answered). `call` names the RPC in that refusal.
  absl::StatusOr<HeldLease> HoldLease(const absl::Status& valid, const v1::Lease& lease,
                                      LeaseOf of, LeaseUse use, const char* call)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leases the next trial or ensemble job to the worker: what the policy planned on the way
  // goes to ops, the lease's own row to lease_ops (committed with kDrop: a lease whose commit
  // failed is withdrawn and leaves no row behind).
  bool TryLease(int64_t worker_id, bool accepts_ensembles, v1::AcquireTrialResponse* response,
                Ops& ops, Ops& lease_ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Commits a granted lease's rows: ops (kRetry), then lease_ops (kDrop); done gets the
  // answer once they committed, or after the lease was withdrawn.
  void CommitLease(v1::AcquireTrialResponse* response, Ops ops, Ops lease_ops, Done done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finds the trial a lease names (its fields already validated) and checks that the lease
  // still holds: the trial is RUNNING (or STOPPED, with allow_stopped) at the lease's attempt,
  // and the caller is its holder with its token.
  absl::Status FindLease(const v1::Lease& lease, StudyEntry** study, int64_t* number,
                         bool allow_stopped) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A ReportIntermediate's rows committed (or failed): the value, the renewed lease and the
  // pruner's answer in *response.
  void FinishReport(const v1::Lease& lease, const v1::IntermediateValue& value,
                    v1::ReportIntermediateResponse* response, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands trials to parked long-polls while there are some.
  void ServeWaiters() ABSL_LOCKS_EXCLUDED(mu_);
  // Undoes a lease whose commit failed: the trial (or ensemble job) is PENDING again at its
  // previous attempt, for the next worker. Nothing happens when the lease is no longer current.
  void WithdrawLease(const v1::Lease& lease) ABSL_LOCKS_EXCLUDED(mu_);
  // Re-queues or fails the trials and ensemble jobs whose lease ran out.
  void ExpireLeases(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Ensembles (scheduler_ensembles.cc)
  // Leases the oldest PENDING ensemble, if any; its row goes to lease_ops.
  bool TryLeaseEnsemble(int64_t worker_id, v1::AcquireTrialResponse* response, Ops& lease_ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Like FindLease, for an ensemble job's lease.
  absl::Status FindEnsembleLease(const v1::Lease& lease, EnsembleEntry** ensemble)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  storage::EnsembleRow EnsembleRowOf(const EnsembleEntry& ensemble) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static storage::EnsembleRow EnsembleRowOf(const EnsembleEntry& ensemble,
                                            const LeaseRecord& lease);
  void FillEnsemble(const EnsembleEntry& ensemble, v1::Ensemble* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-queues or fails an ensemble whose lease ended badly.
  void RetryEnsemble(EnsembleEntry& ensemble, const std::string& reason, bool retryable,
                     Ops& ops) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LoadEnsembles(const std::vector<storage::EnsembleRow>& rows, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Views (scheduler_view.cc)
  void FillTrial(const StudyEntry& study, int64_t number, v1::Trial* trial) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillStudy(const StudyEntry& study, v1::Study* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillAshaBrackets(const StudyEntry& study, v1::Study* out) const;
  // DeleteStudy's commit ended: the study leaves memory when it committed, then its
  // checkpoint files are removed and the call answered. On the committer's thread.
  void FinishDeleteStudy(int64_t id, v1::DeleteStudyResponse* response, const Done& done,
                         const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // A worker as people know it, for messages: its name; "with id N" when it is unknown.
  std::string WorkerLabel(int64_t worker_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const SchedulerOptions options_;
  storage::GroupCommitter* const committer_;

  absl::Mutex mu_;
  std::map<int64_t, StudyEntry> studies_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> deleting_ ABSL_GUARDED_BY(mu_);  // studies whose deletion is committing
  // trial id -> (study id, trial number)
  std::unordered_map<int64_t, std::pair<int64_t, int64_t>> trial_index_ ABSL_GUARDED_BY(mu_);
  LeaseTable leases_ ABSL_GUARDED_BY(mu_);  // of trials and ensemble jobs
  std::map<int64_t, storage::WorkerRow> workers_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, storage::CheckpointRow> checkpoints_ ABSL_GUARDED_BY(mu_);
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, EnsembleEntry> ensembles_ ABSL_GUARDED_BY(mu_);
  // Row 5: calls whose change waits for its commit. Leases whose end (by the named call) is
  // committing: the state in memory is the one before it until the callback installs it, and
  // no other call may end or expire them meanwhile. Leases whose grant is committing (in
  // memory already; withdrawn if it fails): they do not expire meanwhile. ReportIntermediate
  // calls committing, by trial id. Ensemble jobs being created (in ensembles_ once their row
  // committed), and workers being registered, by name (their id, and how many calls).
  std::map<LeaseKey, const char*> committing_ ABSL_GUARDED_BY(mu_);
  std::set<LeaseKey> granting_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int> reporting_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, EnsembleEntry> ensembles_creating_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<int64_t, int>> registering_ ABSL_GUARDED_BY(mu_);
  int64_t next_ensemble_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_study_id_ ABSL_GUARDED_BY(mu_) = 1;
  // CreateStudy's request_id -> the study it created (loaded from the db at start-up).
  std::map<std::string, int64_t> study_by_request_ ABSL_GUARDED_BY(mu_);
  // CreateStudy calls whose commit is on its way: by request_id, the spec and the retries that
  // wait for it (answered with the first call). creating_count_ also counts those without one.
  struct PendingCreate {
    std::string spec_yaml;
    std::vector<std::pair<v1::CreateStudyResponse*, Done>> retries;
  };
  std::map<std::string, PendingCreate> creating_ ABSL_GUARDED_BY(mu_);
  int64_t creating_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_trial_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_worker_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t round_robin_ ABSL_GUARDED_BY(mu_) = 0;  // last study that got a lease
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex reader_mu_;
  storage::Database* const reader_ ABSL_PT_GUARDED_BY(reader_mu_);  // intermediate values only
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_SCHEDULER_H_
