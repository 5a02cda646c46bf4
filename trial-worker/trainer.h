// Trainer: what a trial-worker runs for one leased trial. The worker loop (worker_loop.h) owns
// the RPCs, the lease and its heartbeat; a Trainer only trains and reports through the
// TrialContext. Implementations: SyntheticTrainer (deterministic curve, for tests, demos and
// load), CommandTrainer (the user's own program, command_trainer.h) and, when built with
// LibTorch, the torch trainer (trial-worker/torch/).
#ifndef TUNER_TRIAL_WORKER_TRAINER_H_
#define TUNER_TRIAL_WORKER_TRAINER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "search/space.h"

namespace tuner::worker {

// Everything a trainer needs to know about one leased trial.
struct TrialAssignment {
  int64_t study_id = 0;
  int64_t trial_id = 0;
  int64_t trial_number = 0;
  search::Params params;
  nlohmann::json trainer_config;   // the spec's trainer section
  std::string objective_metric = "val_accuracy";
  bool maximize = true;
  // objective.reduce: false (best) = an execution's value is its best epoch by the objective
  // and it keeps that epoch's weights; true (last) = its last epoch.
  bool reduce_last = false;
  int start_epoch = 0;             // epochs already trained; > 0 means resume
  int budget_epochs = 1;           // train up to this epoch, inclusive
  int executions = 1;              // executions_per_trial: runs with seeds seed, seed+1, ...
  uint64_t seed = 0;
  std::string resume_checkpoint_path;  // local file; empty when start_epoch == 0
  std::string checkpoint_out_path;     // where to write a checkpoint; empty: none wanted
  std::string device = "cpu";          // cpu | cuda:N (resolved by the worker)
  int threads = 0;                     // CPU threads; 0 = the CPUs of its affinity mask
  std::string cache_dir;               // node-local cache directory (may be empty)
  std::string work_dir;                // the worker's scratch directory (may be empty: $TMPDIR)
  std::string log_dir;                 // where trainers keep per-trial logs (may be empty)
  int attempt = 1;                     // the lease's attempt, for logs
};

// One epoch of one execution.
struct EpochReport {
  int execution = 0;
  int epoch = 0;                       // 1-based
  double value = 0;                    // the objective metric
  std::map<std::string, double> metrics;
};

// The trainer's window to the server. Implemented by the worker loop.
class TrialContext {
 public:
  virtual ~TrialContext() = default;
  // Sends the report; returns false when training must stop now (pruned, study stopped,
  // lease lost). The trainer then returns whatever it has.
  virtual bool ReportEpoch(const EpochReport& report) = 0;
  // True once a stop was requested (heartbeat or report answer).
  virtual bool StopRequested() const = 0;
};

struct TrainResult {
  double value = 0;                    // objective: mean over executions of each one's
                                       // reported epoch (best, or last: reduce_last)
  std::map<std::string, double> metrics;
  int epochs_done = 0;
  bool checkpoint_written = false;     // at assignment.checkpoint_out_path
  bool stopped = false;                // ended early because the context said stop
};

// One member of an ensemble job: a finished trial and its checkpoint, downloaded.
struct EnsembleMemberAssignment {
  int64_t trial_id = 0;
  search::Params params;
  std::string checkpoint_path;         // local file
};

// A top-k ensemble to evaluate on the dataset's held-out test set.
struct EnsembleAssignment {
  int64_t study_id = 0;
  int64_t ensemble_id = 0;
  nlohmann::json trainer_config;       // the study's trainer section
  std::vector<EnsembleMemberAssignment> members;  // best trial first
  std::string device = "cpu";
  int threads = 0;
  std::string cache_dir;
};

struct EnsembleResult {
  double test_accuracy = 0;            // argmax of the members' averaged softmax
  std::vector<double> member_test_accuracies;  // each member alone, same order
  int64_t test_images = 0;
};

// Thread-compatible: one Train call at a time per instance.
// Errors: INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION mean the trial itself is bad (bad
// config, missing dataset, bad weights, NaN loss) and is failed without retry; any other code
// is retried on another lease.
class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual absl::StatusOr<TrainResult> Train(const TrialAssignment& assignment,
                                            TrialContext& context) = 0;
  // Evaluates the members' averaged softmax on the test set. Same error contract as Train.
  // Trainers without real models (the synthetic one) refuse.
  virtual absl::StatusOr<EnsembleResult> EvaluateEnsemble(const EnsembleAssignment& assignment) {
    (void)assignment;
    return absl::FailedPreconditionError(
        "this trainer has no models to evaluate; ensembles need trainer.kind torch");
  }
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRAINER_H_
