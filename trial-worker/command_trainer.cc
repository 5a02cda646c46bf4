#include "trial-worker/command_trainer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "spdlog/spdlog.h"
#include "trial-worker/child_process.h"
#include "trial-worker/command_run.h"
#include "trial-worker/dir_archive.h"
#include "trial-worker/training/command_config.h"
#include "trial-worker/training/metric_lines.h"

extern char** environ;

namespace tuner::worker {
namespace {

namespace fs = std::filesystem;

// Reports of earlier leases, kept in the checkpoint archive beside the program's exec-N dirs
// so that a resumed trial's value (its best epoch) counts the epochs before the promotion.
constexpr char kReportsFile[] = "tuner-reports.json";

// A scratch directory for one trial's params, checkpoint and resume dirs; removed at the end.
class ScratchDir {
 public:
  static absl::StatusOr<ScratchDir> Make(const std::string& parent, int64_t trial_id) {
    std::error_code error;
    const fs::path base = parent.empty() ? fs::temp_directory_path(error) : fs::path(parent);
    fs::create_directories(base, error);
    std::string pattern = (base / absl::StrCat("command-trial-", trial_id, "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create a scratch dir ", pattern));
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

nlohmann::json ReportsToJson(const std::vector<std::vector<EpochReport>>& executions) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& reports : executions) {
    nlohmann::json list = nlohmann::json::array();
    for (const EpochReport& r : reports) {
      list.push_back({{"epoch", r.epoch}, {"value", r.value}, {"metrics", r.metrics}});
    }
    out.push_back(list);
  }
  return out;
}

// The earlier leases' reports; empty lists when the archive has none (not an error: the
// program's files are what matters).
std::vector<std::vector<EpochReport>> ReadReports(const fs::path& file, int executions,
                                                  int start_epoch) {
  std::vector<std::vector<EpochReport>> out(executions);
  std::ifstream in(file);
  if (!in) return out;
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (!doc.is_array()) return out;
  try {
    for (int x = 0; x < executions && x < static_cast<int>(doc.size()); ++x) {
      for (const nlohmann::json& r : doc[x]) {
        EpochReport report;
        report.execution = x;
        report.epoch = r.at("epoch").get<int>();
        report.value = r.at("value").get<double>();
        report.metrics = r.at("metrics").get<std::map<std::string, double>>();
        if (report.epoch <= start_epoch) out[x].push_back(report);
      }
    }
  } catch (const nlohmann::json::exception&) {
    return std::vector<std::vector<EpochReport>>(executions);
  }
  return out;
}

bool HasFiles(const fs::path& dir) {
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(dir, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error)) return true;
  }
  return false;
}

std::string StderrTail(const CommandRunResult& run) {
  if (run.stderr_tail.empty()) return " (its stderr was empty)";
  return absl::StrCat("; its stderr ends with:\n", run.stderr_tail);
}

// The execution's own outcome as an error, or OK when it produced a result (or was stopped).
absl::Status Judge(const CommandRunResult& run, const CommandConfig& config,
                   const std::string& what) {
  using Stop = CommandRunResult::Stop;
  if (run.stop == Stop::kBadOutput) {
    return absl::Status(run.output_error.code(),
                        absl::StrCat(run.output_error.message(), " (", what, ")"));
  }
  if (run.stop == Stop::kTimeout) {
    return absl::DeadlineExceededError(absl::StrCat(
        what, " was ", run.stop_reason, "; stopped with SIGTERM",
        run.killed ? absl::StrCat(" and, as it ignored that for trainer.grace_seconds (",
                                  config.grace_seconds, " s), SIGKILL")
                   : "",
        StderrTail(run)));
  }
  if (run.stop == Stop::kAnswer || run.signalled) return absl::OkStatus();  // we ended it
  const int status = run.wait_status;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " exited with status 2, a usage error (check trainer.argv)", StderrTail(run)));
  }
  return absl::AbortedError(absl::StrCat(what, " ", DescribeWaitStatus(status), StderrTail(run)));
}

}  // namespace

absl::StatusOr<TrainResult> CommandTrainer::Train(const TrialAssignment& a,
                                                  TrialContext& context) {
  absl::StatusOr<CommandConfig> config = ParseCommandConfig(a.trainer_config);
  if (!config.ok()) return config.status();
  if (a.budget_epochs < 1) return absl::InvalidArgumentError("budget_epochs: must be >= 1");
  if (a.executions < 1) return absl::InvalidArgumentError("executions: must be >= 1");
  if (a.start_epoch < 0 || a.start_epoch >= a.budget_epochs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start_epoch: must be in [0, budget_epochs) = [0, ", a.budget_epochs, ")"));
  }
  absl::StatusOr<FilledCommand> filled = FillCommand(*config, a.params);
  if (!filled.ok()) return filled.status();

  std::error_code error;
  std::string workdir;
  if (!config->workdir.empty()) {
    workdir = fs::absolute(config->workdir, error).lexically_normal().string();
    if (!fs::is_directory(workdir, error)) {
      return absl::FailedPreconditionError(
          absl::StrCat("trainer.workdir: ", workdir, " is not a directory on this worker"));
    }
  }
  // The worker's environment without its own TUNER_* settings (its token among them).
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || entry.rfind("TUNER_", 0) == 0) continue;
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  env.emplace("PYTHONUNBUFFERED", "1");  // reports must arrive as they are printed
  for (const auto& [name, value] : filled->env) env[name] = value;
  const std::string path = env.count("PATH") ? env["PATH"] : "/usr/local/bin:/usr/bin:/bin";
  absl::StatusOr<std::string> program = FindProgram(filled->argv[0], path, workdir);
  if (!program.ok()) return program.status();

  absl::StatusOr<ScratchDir> scratch = ScratchDir::Make(a.work_dir, a.trial_id);
  if (!scratch.ok()) return scratch.status();
  const fs::path root = scratch->path();
  const nlohmann::json params = ParamsToJson(a.params);
  const fs::path params_file = root / "params.json";
  if (absl::Status s = WriteFileAtomically(params_file.string(), params.dump(2) + "\n"); !s.ok()) {
    return s;
  }
  std::vector<std::vector<EpochReport>> reports(a.executions);
  if (a.start_epoch > 0) {
    if (a.resume_checkpoint_path.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "start_epoch is ", a.start_epoch, " but the assignment has no resume checkpoint"));
    }
    if (absl::Status s = UnpackArchive(a.resume_checkpoint_path, (root / "resume").string(),
                                       config->checkpoint_max_bytes);
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("resume checkpoint: ", s.message()));
    }
    reports = ReadReports(root / "resume" / kReportsFile, a.executions, a.start_epoch);
  }
  const fs::path log_dir = !a.log_dir.empty()  ? fs::path(a.log_dir)
                           : !a.work_dir.empty() ? fs::path(a.work_dir) / "trial-logs"
                                                 : root / "logs";
  fs::create_directories(log_dir, error);
  const std::string log_prefix =
      (log_dir / absl::StrCat("study-", a.study_id, "-trial-", a.trial_id)).string();
  CappedLog stdout_log(log_prefix + ".stdout.log", config->log_max_bytes);
  CappedLog stderr_log(log_prefix + ".stderr.log", config->log_max_bytes);
  const MetricLineParser parser(*config);
  const std::string what = absl::StrCat("trainer.argv[0] ", filled->argv[0]);

  bool stopped = false;
  int ran = 0;
  // A final line (the objective without an epoch) decides its execution's value.
  std::vector<std::optional<EpochReport>> finals(a.executions);
  for (int x = 0; x < a.executions && !stopped; ++x) {
    const fs::path checkpoint_dir = root / "checkpoint" / absl::StrCat("exec-", x);
    const fs::path resume_dir = root / "resume" / absl::StrCat("exec-", x);
    fs::create_directories(checkpoint_dir, error);
    fs::create_directories(resume_dir, error);
    std::map<std::string, std::string> run_env = env;
    run_env["TUNER_PARAMS"] = params.dump();
    run_env["TUNER_PARAMS_FILE"] = params_file.string();
    run_env["TUNER_STUDY_ID"] = std::to_string(a.study_id);
    run_env["TUNER_TRIAL_ID"] = std::to_string(a.trial_id);
    run_env["TUNER_EXECUTION"] = std::to_string(x);
    run_env["TUNER_SEED"] = std::to_string(a.seed + static_cast<uint64_t>(x));
    run_env["TUNER_START_EPOCH"] = std::to_string(a.start_epoch);
    run_env["TUNER_BUDGET_EPOCHS"] = std::to_string(a.budget_epochs);
    run_env["TUNER_CHECKPOINT_DIR"] = checkpoint_dir.string();
    run_env["TUNER_RESUME_DIR"] = resume_dir.string();
    run_env["TUNER_OBJECTIVE"] = a.objective_metric;
    run_env["TUNER_REPORT_FD"] = std::to_string(kReportFd);
    run_env["TUNER_REPLY_FD"] = std::to_string(kReplyFd);
    run_env["TUNER_DEVICE"] = a.device;
    CommandRunSpec spec;
    spec.program = *program;
    spec.argv = filled->argv;
    for (const auto& [name, value] : run_env) spec.env.push_back(absl::StrCat(name, "=", value));
    spec.workdir = workdir;
    spec.execution = x;
    const std::string header =
        absl::StrCat("==== trial ", a.trial_id, " attempt ", a.attempt, " execution ", x,
                     ": epochs ", a.start_epoch + 1, "..", a.budget_epochs, ": ",
                     absl::StrJoin(filled->argv, " "), "\n");
    stdout_log.Write(header);
    stderr_log.Write(header);
    absl::StatusOr<CommandRunResult> run =
        RunCommand(a, *config, parser, spec, stdout_log, stderr_log, context);
    if (!run.ok()) return run.status();
    ++ran;
    const std::string execution = absl::StrCat(what, " (execution ", x, ")");
    if (absl::Status s = Judge(*run, *config, execution); !s.ok()) return s;
    stopped = run->stop == CommandRunResult::Stop::kAnswer;
    for (const EpochReport& r : run->reports) reports[x].push_back(r);
    finals[x] = run->final_report;
    if (!stopped && run->reports.empty() && !run->final_report) {
      return absl::FailedPreconditionError(absl::StrCat(
          execution, " exited with status 0 without reporting ", a.objective_metric,
          ": print one JSON line per epoch such as {\"epoch\": ", a.start_epoch + 1, ", \"",
          a.objective_metric, "\": 0.9} on stdout (or TUNER_REPORT_FD)",
          run->stdout_tail.empty() ? "; its stdout was empty"
                                   : absl::StrCat("; its stdout ends with:\n", run->stdout_tail)));
    }
  }

  TrainResult result;
  result.stopped = stopped;
  int counted = 0;
  int epochs_done = a.budget_epochs;
  for (int x = 0; x < ran; ++x) {
    const std::vector<EpochReport>& list = reports[x];
    if (list.empty() || list.back().epoch <= a.start_epoch) continue;
    size_t at = list.size() - 1;
    if (!a.reduce_last) {
      for (size_t e = 0; e < list.size(); ++e) {
        if (a.maximize ? list[e].value > list[at].value : list[e].value < list[at].value) at = e;
      }
    }
    const EpochReport& chosen = finals[x] ? *finals[x] : list[at];
    result.value += chosen.value;
    for (const auto& [name, value] : chosen.metrics) result.metrics[name] += value;
    epochs_done = std::min(epochs_done, list.back().epoch);
    ++counted;
  }
  if (counted == 0) return result;  // stopped before any new epoch: epochs_done 0
  result.value /= counted;
  for (auto& [name, value] : result.metrics) value /= counted;
  result.epochs_done = epochs_done;
  if (!a.checkpoint_out_path.empty() && !stopped) {
    if (!HasFiles(root / "checkpoint")) {
      spdlog::info("study {} trial {}: the program wrote nothing in TUNER_CHECKPOINT_DIR; a "
                   "promotion will start it from epoch 1",
                   a.study_id, a.trial_id);
      return result;
    }
    if (absl::Status s = WriteFileAtomically((root / "checkpoint" / kReportsFile).string(),
                                             ReportsToJson(reports).dump());
        !s.ok()) {
      return s;
    }
    absl::StatusOr<PackedDirectory> packed = PackDirectory(
        (root / "checkpoint").string(), a.checkpoint_out_path, config->checkpoint_max_bytes);
    if (!packed.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("TUNER_CHECKPOINT_DIR: ", packed.status().message()));
    }
    for (const std::string& skipped : packed->skipped) {
      spdlog::warn("study {} trial {}: not in the checkpoint: {}", a.study_id, a.trial_id, skipped);
    }
    result.checkpoint_written = true;
  }
  return result;
}

}  // namespace tuner::worker
