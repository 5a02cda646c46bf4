// CommandTrainer: `trainer.kind: command` runs the user's own program, in any language, for
// each execution of a trial (docs/worker.md, "The command trainer"). The program gets its
// params as a JSON file and as TUNER_* environment variables, reports epochs as JSON lines on
// stdout or TUNER_REPORT_FD (or `name=value` text found by regexes), learns `continue` / `stop`
// on TUNER_REPLY_FD, and keeps its checkpoint in TUNER_CHECKPOINT_DIR; that directory is
// uploaded as a tar when the lease asks for a checkpoint and unpacked into TUNER_RESUME_DIR
// when a promoted trial resumes.
//
// Outcomes (the worker loop turns errors into FailTrial, retryable unless INVALID_ARGUMENT,
// NOT_FOUND or FAILED_PRECONDITION):
//   exit 0 with a value            -> the result (value by objective.reduce over its epochs)
//   stopped (pruned, rung end)     -> the result so far (exit status ignored: we ended it)
//   exit 2 (a usage error)         -> INVALID_ARGUMENT with the stderr tail
//   other exit status, a signal    -> ABORTED with the stderr tail (retried)
//   timeout_seconds passed         -> DEADLINE_EXCEEDED (retried)
//   exit 0 without a value         -> FAILED_PRECONDITION with the stdout tail
//   a bad metrics line             -> INVALID_ARGUMENT / FAILED_PRECONDITION (NaN) naming it
#ifndef TUNER_TRIAL_WORKER_COMMAND_TRAINER_H_
#define TUNER_TRIAL_WORKER_COMMAND_TRAINER_H_

#include "absl/status/statusor.h"
#include "trial-worker/trainer.h"

namespace tuner::worker {

// Stateless between trials; thread-compatible.
class CommandTrainer final : public Trainer {
 public:
  absl::StatusOr<TrainResult> Train(const TrialAssignment& assignment,
                                    TrialContext& context) override;
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_COMMAND_TRAINER_H_
