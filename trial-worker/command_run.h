// One execution of a command trainer's program: starts it (ChildProcess), reads its stdout,
// stderr and TUNER_REPORT_FD, turns metrics lines into epoch reports through the TrialContext,
// answers each TUNER_REPORT_FD line on TUNER_REPLY_FD (`continue` / `stop`), enforces
// trainer.timeout_seconds, and on a stop sends SIGTERM to the process group and SIGKILL after
// trainer.grace_seconds. Used by CommandTrainer (command_trainer.h), one run per execution.
#ifndef TUNER_TRIAL_WORKER_COMMAND_RUN_H_
#define TUNER_TRIAL_WORKER_COMMAND_RUN_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trial-worker/trainer.h"
#include "trial-worker/training/command_config.h"
#include "trial-worker/training/metric_lines.h"

namespace tuner::worker {

// A log file capped at max_bytes: what comes after is counted, not written, and one line
// says so. Thread-compatible.
class CappedLog {
 public:
  CappedLog(const std::string& path, int64_t max_bytes);
  ~CappedLog();
  CappedLog(const CappedLog&) = delete;
  CappedLog& operator=(const CappedLog&) = delete;
  void Write(std::string_view data);
  int64_t dropped_bytes() const { return dropped_; }
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const int64_t max_bytes_;
  FILE* file_ = nullptr;
  int64_t written_ = 0;
  int64_t dropped_ = 0;
};

struct CommandRunSpec {
  std::string program;                 // resolved (FindProgram)
  std::vector<std::string> argv;
  std::vector<std::string> env;        // NAME=value, the whole environment
  std::string workdir;                 // empty: the worker's
  int execution = 0;
};

struct CommandRunResult {
  std::vector<EpochReport> reports;    // accepted by the context, in order
  std::optional<EpochReport> final_report;  // a line with the objective and no epoch
  enum class Stop { kNone, kAnswer, kBudget, kTimeout, kBadOutput };
  Stop stop = Stop::kNone;
  std::string stop_reason;
  bool signalled = false;              // we sent SIGTERM or SIGKILL
  bool killed = false;                 // ... and SIGKILL (it outlived grace_seconds)
  int wait_status = 0;
  absl::Status output_error;           // kBadOutput: why
  std::string stderr_tail;             // the last ~2 KB, valid UTF-8
  std::string stdout_tail;
  int skipped_resumed_epochs = 0;      // reports of epochs <= start_epoch, not sent again
};

// Runs the program to its end. Errors only when it cannot start (FindProgram / spawn codes);
// everything the program does is in the result.
absl::StatusOr<CommandRunResult> RunCommand(const TrialAssignment& a, const CommandConfig& config,
                                            const MetricLineParser& parser,
                                            const CommandRunSpec& spec, CappedLog& stdout_log,
                                            CappedLog& stderr_log, TrialContext& context);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_COMMAND_RUN_H_
