#include "trial-worker/command_run.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "spdlog/spdlog.h"
#include "trial-worker/child_process.h"

namespace tuner::worker {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxLine = 64 * 1024;   // longer lines are logged, not parsed
constexpr size_t kTailBytes = 2000;
constexpr size_t kMaxMetrics = 64;       // what ReportIntermediate accepts

Clock::time_point After(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(seconds));
}

// Splits a stream into lines; an overlong line is cut off and skipped.
class LineBuffer {
 public:
  template <typename Fn>
  void Add(std::string_view data, Fn&& on_line) {
    for (char c : data) {
      if (c == '\n') {
        if (!overlong_) on_line(std::string_view(line_));
        line_.clear();
        overlong_ = false;
      } else if (line_.size() < kMaxLine) {
        line_ += c;
      } else {
        overlong_ = true;
      }
    }
  }
  template <typename Fn>
  void Flush(Fn&& on_line) {
    if (!line_.empty() && !overlong_) on_line(std::string_view(line_));
    line_.clear();
  }

 private:
  std::string line_;
  bool overlong_ = false;
};

void KeepTail(std::string& tail, std::string_view data) {
  tail.append(data);
  if (tail.size() > 2 * kTailBytes) tail.erase(0, tail.size() - kTailBytes);
}

std::string Tail(const std::string& tail) {
  std::string_view text(tail);
  if (text.size() > kTailBytes) text.remove_prefix(text.size() - kTailBytes);
  return RepairUtf8(text);
}

// The metrics the server accepts: names of 1..64 bytes of valid UTF-8, finite values, at most
// 64 with the objective among them.
std::map<std::string, double> Acceptable(const std::map<std::string, double>& metrics,
                                         const std::string& objective) {
  std::map<std::string, double> out;
  if (auto it = metrics.find(objective); it != metrics.end()) out.insert(*it);
  for (const auto& [name, value] : metrics) {
    if (out.size() >= kMaxMetrics) break;
    if (name.empty() || name.size() > 64 || !IsValidUtf8(name) || !std::isfinite(value)) continue;
    out.emplace(name, value);
  }
  return out;
}

// The whole run's state; one per RunCommand.
class Run {
 public:
  Run(const TrialAssignment& a, const CommandConfig& config, const MetricLineParser& parser,
      const CommandRunSpec& spec, ChildProcess& child, TrialContext& context)
      : a_(a), config_(config), parser_(parser), spec_(spec), child_(child), context_(context) {}

  void Line(std::string_view line, bool via_fd);
  void BeginStop(CommandRunResult::Stop kind, const std::string& why);
  void Tick();

  CommandRunResult result;

 private:
  void Reply(bool via_fd, bool go_on) {
    if (via_fd) child_.Reply(go_on ? "continue" : "stop");
  }
  void Send(int epoch, const std::map<std::string, double>& metrics, bool via_fd);

  const TrialAssignment& a_;
  const CommandConfig& config_;
  const MetricLineParser& parser_;
  const CommandRunSpec& spec_;
  ChildProcess& child_;
  TrialContext& context_;
  bool used_reply_fd_ = false;
  int last_epoch_ = 0;
  std::map<std::string, double> pending_;  // regex format: metrics seen before the objective
  std::optional<int> pending_epoch_;
  std::optional<Clock::time_point> term_at_, kill_at_;
  const Clock::time_point deadline_ =
      config_.timeout_seconds > 0 ? After(config_.timeout_seconds) : Clock::time_point::max();
};

void Run::BeginStop(CommandRunResult::Stop kind, const std::string& why) {
  if (result.stop != CommandRunResult::Stop::kNone) return;
  result.stop = kind;
  result.stop_reason = why;
  const double grace = config_.grace_seconds;
  switch (kind) {
    case CommandRunResult::Stop::kBudget:
      // Its last epoch is done and it should exit by itself: signals only if it does not.
      term_at_ = After(grace / 2);
      kill_at_ = After(grace);
      break;
    case CommandRunResult::Stop::kAnswer:
      // A program that reads TUNER_REPLY_FD got `stop` and may finish its write first.
      term_at_ = After(used_reply_fd_ ? grace / 2 : 0);
      kill_at_ = After(grace);
      break;
    default:
      term_at_ = Clock::now();
      kill_at_ = After(grace);
  }
  spdlog::info("study {} trial {} execution {}: stopping the program ({})", a_.study_id, a_.trial_id, spec_.execution,
               why);
}

void Run::Tick() {
  if (result.stop == CommandRunResult::Stop::kNone && context_.StopRequested()) {
    BeginStop(CommandRunResult::Stop::kAnswer, "the trial was told to stop");
  }
  if (result.stop == CommandRunResult::Stop::kNone && Clock::now() >= deadline_) {
    BeginStop(CommandRunResult::Stop::kTimeout,
              absl::StrCat("still running after trainer.timeout_seconds (",
                           config_.timeout_seconds, " s)"));
  }
  const auto now = Clock::now();
  if (term_at_ && now >= *term_at_) {
    child_.SignalGroup(SIGTERM);
    result.signalled = true;
    term_at_.reset();
  }
  if (kill_at_ && now >= *kill_at_) {
    child_.SignalGroup(SIGKILL);
    result.killed = true;
    kill_at_.reset();
  }
}

void Run::Send(int epoch, const std::map<std::string, double>& metrics, bool via_fd) {
  const std::string& objective = a_.objective_metric;
  if (epoch <= a_.start_epoch) {
    // A program that cannot resume trains from epoch 1 again: those epochs are already stored.
    if (result.skipped_resumed_epochs++ == 0) {
      spdlog::warn("study {} trial {}: the program reported epoch {} again although "
                   "TUNER_START_EPOCH is {}; epochs up to {} are not reported twice",
                   a_.study_id, a_.trial_id, epoch, a_.start_epoch, a_.start_epoch);
    }
    Reply(via_fd, true);
    return;
  }
  if (epoch <= last_epoch_) {
    result.output_error = absl::InvalidArgumentError(absl::StrCat(
        "the program reported epoch ", epoch, " after epoch ", last_epoch_,
        " (epochs must increase)"));
    BeginStop(CommandRunResult::Stop::kBadOutput, "bad metrics line");
    Reply(via_fd, false);
    return;
  }
  if (epoch > a_.budget_epochs) {
    BeginStop(CommandRunResult::Stop::kBudget,
              absl::StrCat("it reported epoch ", epoch, " past TUNER_BUDGET_EPOCHS ",
                           a_.budget_epochs));
    Reply(via_fd, false);
    return;
  }
  EpochReport report;
  report.execution = spec_.execution;
  report.epoch = epoch;
  report.metrics = Acceptable(metrics, objective);
  report.value = report.metrics.at(objective);
  last_epoch_ = epoch;
  const bool go_on = context_.ReportEpoch(report);
  // Answered stop or not, the server has it: the epoch is done (a pruned trial keeps it).
  result.reports.push_back(report);
  if (!go_on) {
    BeginStop(CommandRunResult::Stop::kAnswer, absl::StrCat("stop after epoch ", epoch));
    Reply(via_fd, false);
    return;
  }
  if (epoch == a_.budget_epochs) {
    BeginStop(CommandRunResult::Stop::kBudget,
              absl::StrCat("TUNER_BUDGET_EPOCHS ", a_.budget_epochs, " reached"));
    Reply(via_fd, false);
    return;
  }
  Reply(via_fd, true);
}

void Run::Line(std::string_view line, bool via_fd) {
  if (via_fd) used_reply_fd_ = true;
  if (result.stop != CommandRunResult::Stop::kNone) {
    Reply(via_fd, false);
    return;
  }
  absl::StatusOr<std::optional<MetricLine>> parsed;
  if (via_fd) {
    absl::StatusOr<MetricLine> report = parser_.ParseReport(line);
    if (report.ok()) parsed = std::optional<MetricLine>(*std::move(report));
    else parsed = report.status();
  } else {
    parsed = parser_.ParseOutput(line);
  }
  if (!parsed.ok()) {
    result.output_error = parsed.status();
    BeginStop(CommandRunResult::Stop::kBadOutput, "bad metrics line");
    Reply(via_fd, false);
    return;
  }
  if (!parsed->has_value()) return;
  MetricLine m = **std::move(parsed);
  const std::string& objective = a_.objective_metric;
  const bool regex = config_.metrics_format == CommandConfig::MetricsFormat::kRegex && !via_fd;
  if (m.not_numbers.count(objective) != 0) {
    result.output_error = absl::FailedPreconditionError(absl::StrCat(
        "the program reported ", objective, " as NaN, Infinity or null",
        m.epoch ? absl::StrCat(" at epoch ", *m.epoch) : "", " (did the run diverge?)"));
    BeginStop(CommandRunResult::Stop::kBadOutput, "non-finite objective");
    Reply(via_fd, false);
    return;
  }
  if (regex) {
    // Katib style: a metric a line; the objective's line closes the epoch.
    for (const auto& [name, value] : m.metrics) pending_[name] = value;
    if (m.epoch) pending_epoch_ = m.epoch;
    if (pending_.count(objective) == 0) return;
    const int epoch = pending_epoch_.value_or(std::max(last_epoch_, a_.start_epoch) + 1);
    std::map<std::string, double> metrics = std::exchange(pending_, {});
    pending_epoch_.reset();
    Send(epoch, metrics, via_fd);
    return;
  }
  if (!m.epoch) {
    if (m.metrics.count(objective) == 0) {
      Reply(via_fd, true);
      return;
    }
    // A final line: the execution's value. Alone (a one-shot objective) it is also the report
    // of its budget's last epoch.
    EpochReport final_report;
    final_report.execution = spec_.execution;
    final_report.epoch = last_epoch_ > 0 ? last_epoch_ : a_.budget_epochs;
    final_report.metrics = Acceptable(m.metrics, objective);
    final_report.value = final_report.metrics.at(objective);
    result.final_report = final_report;
    if (result.reports.empty() && last_epoch_ == 0) {
      Send(a_.budget_epochs, m.metrics, via_fd);
    } else {
      Reply(via_fd, true);
    }
    return;
  }
  if (m.metrics.count(objective) == 0) {
    std::string has;
    for (const auto& [name, value] : m.metrics) absl::StrAppend(&has, has.empty() ? "" : ", ", name);
    result.output_error = absl::InvalidArgumentError(absl::StrCat(
        "the program's line for epoch ", *m.epoch, " has no \"", objective,
        "\" (the study's objective.metric); it has: ", has.empty() ? "nothing else" : has));
    BeginStop(CommandRunResult::Stop::kBadOutput, "metrics line without the objective");
    Reply(via_fd, false);
    return;
  }
  Send(*m.epoch, m.metrics, via_fd);
}

}  // namespace

CappedLog::CappedLog(const std::string& path, int64_t max_bytes)
    : path_(path), max_bytes_(max_bytes) {
  file_ = std::fopen(path.c_str(), "ab");
  if (file_ != nullptr) {
    std::fseek(file_, 0, SEEK_END);
    written_ = std::ftell(file_);
  }
}

CappedLog::~CappedLog() {
  if (file_ == nullptr) return;
  if (dropped_ > 0) {
    const std::string note = absl::StrCat("\n[trial-worker: ", dropped_,
                                          " more bytes dropped: trainer.log_max_bytes is ",
                                          max_bytes_, "]\n");
    std::fwrite(note.data(), 1, note.size(), file_);
  }
  std::fclose(file_);
}

void CappedLog::Write(std::string_view data) {
  const int64_t room = std::max<int64_t>(0, max_bytes_ - written_);
  const size_t now = static_cast<size_t>(std::min<int64_t>(room, static_cast<int64_t>(data.size())));
  if (file_ != nullptr && now > 0) {
    std::fwrite(data.data(), 1, now, file_);
    std::fflush(file_);
  }
  written_ += static_cast<int64_t>(now);
  dropped_ += static_cast<int64_t>(data.size() - now);
}

absl::StatusOr<CommandRunResult> RunCommand(const TrialAssignment& a, const CommandConfig& config,
                                            const MetricLineParser& parser,
                                            const CommandRunSpec& spec, CappedLog& stdout_log,
                                            CappedLog& stderr_log, TrialContext& context) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> spawned =
      ChildProcess::Spawn(spec.program, spec.argv, spec.env, spec.workdir);
  if (!spawned.ok()) return spawned.status();
  ChildProcess& child = **spawned;
  spdlog::info("study {} trial {} execution {}: started {} (pid {})", a.study_id, a.trial_id, spec.execution,
               spec.program, child.pid());
  Run run(a, config, parser, spec, child, context);
  LineBuffer out_lines, err_lines, report_lines;
  std::string out_tail, err_tail;
  char buffer[1 << 16];

  // Reads what is there; false when nothing is open any more.
  const auto pump = [&](int timeout_ms) {
    std::vector<pollfd> fds;
    for (int fd : {child.stdout_fd(), child.stderr_fd(), child.report_fd()}) {
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    }
    if (fds.empty()) {
      if (timeout_ms > 0) usleep(static_cast<useconds_t>(timeout_ms) * 1000);
      return false;
    }
    if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return true;
    for (const pollfd& p : fds) {
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(p.fd, buffer, sizeof(buffer));
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      const std::string_view data(buffer, n > 0 ? static_cast<size_t>(n) : 0);
      if (p.fd == child.stdout_fd()) {
        stdout_log.Write(data);
        KeepTail(out_tail, data);
        out_lines.Add(data, [&](std::string_view line) { run.Line(line, false); });
        if (n <= 0) out_lines.Flush([&](std::string_view line) { run.Line(line, false); });
      } else if (p.fd == child.stderr_fd()) {
        stderr_log.Write(data);
        KeepTail(err_tail, data);
      } else {
        report_lines.Add(data, [&](std::string_view line) { run.Line(line, true); });
        if (n <= 0) report_lines.Flush([&](std::string_view line) { run.Line(line, true); });
      }
      if (n <= 0) child.CloseOutput(p.fd);
    }
    return true;
  };

  while (!child.Exited()) {
    run.Tick();
    pump(20);
  }
  // The leader is gone: take what it wrote, then end whatever it left behind in its group
  // (they may hold the pipes open) and read to the end.
  while (pump(0) && (child.stdout_fd() >= 0 || child.stderr_fd() >= 0 || child.report_fd() >= 0)) {
    bool any = false;
    for (int fd : {child.stdout_fd(), child.stderr_fd(), child.report_fd()}) {
      pollfd p{fd, POLLIN, 0};
      if (fd >= 0 && poll(&p, 1, 0) > 0) any = true;
    }
    if (!any) break;
  }
  child.SignalGroup(SIGKILL);
  const auto drain_until = After(2);
  while (Clock::now() < drain_until && pump(20) &&
         (child.stdout_fd() >= 0 || child.stderr_fd() >= 0 || child.report_fd() >= 0)) {
  }
  CommandRunResult result = std::move(run.result);
  result.wait_status = child.Reap();
  result.stderr_tail = Tail(err_tail);
  result.stdout_tail = Tail(out_tail);
  return result;
}

}  // namespace tuner::worker
