#include "tunectl/study_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "tunectl/eta.h"
#include "tunectl/format.h"
#include "tunectl/trials_export.h"

namespace tuner::tunectl {
namespace {

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

std::string TrialValue(const v1::Trial& trial) {
  return trial.has_value() ? FormatValue(trial.value()) : "-";
}

// "3/9" (epochs done of the current rung's budget), "3" without a budget, "-" before any.
std::string Epochs(const v1::Trial& trial) {
  if (trial.budget_epochs() > 0) {
    return std::to_string(trial.epochs_done()) + "/" + std::to_string(trial.budget_epochs());
  }
  return trial.epochs_done() > 0 ? std::to_string(trial.epochs_done()) : "-";
}

std::string Metrics(const google::protobuf::Map<std::string, double>& metrics) {
  const std::map<std::string, double> sorted(metrics.begin(), metrics.end());
  std::string out;
  for (const auto& [name, value] : sorted) {
    if (!out.empty()) out += ' ';
    out += name + "=" + FormatMetric(value);
  }
  return out;
}

std::string Direction(v1::Direction direction) {
  return direction == v1::MINIMIZE ? "minimize" : "maximize";
}

// Elapsed seconds: until finished_at for an ended study, else until now.
double Elapsed(const v1::Study& study, double now) {
  if (study.created_at() <= 0) return -1;
  const double end = study.state() != v1::STUDY_RUNNING && study.finished_at() > 0
                         ? study.finished_at()
                         : now;
  return std::max(0.0, end - study.created_at());
}

std::string Percent(int64_t done, int64_t planned) {
  if (planned <= 0) return "";
  char text[16];
  std::snprintf(text, sizeof(text), " (%d%%)",
                static_cast<int>(std::floor(100.0 * std::min(done, planned) / planned)));
  return text;
}

// The first line of a fail reason, at most 60 cells (the table's REASON column).
std::string ShortReason(const std::string& reason) {
  std::string line = reason.substr(0, reason.find('\n'));
  return line.empty() ? "-" : FitWords(line, 61);
}

// Every trial that finished so far failed (none completed, was pruned or stopped).
bool OnlyFailures(const v1::Study& study) {
  return TrialCount(study, v1::FAILED) > 0 && TrialCount(study, v1::FAILED) == DoneCount(study);
}

std::string BestOf(const v1::Study& study) {
  if (!study.has_best()) return "best -";
  return "best " + FormatValue(study.best_trial().value()) + " (trial " +
         std::to_string(study.best_trial().trial_id()) + ")";
}

}  // namespace

std::string FormatClock(double unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm local{};
  localtime_r(&t, &local);
  char text[16];
  std::strftime(text, sizeof(text), "%H:%M:%S", &local);
  return text;
}

std::string AlgorithmLabel(const v1::Study& study) {
  std::string label = study.algorithm();
  const std::string& sampler = study.sampler();
  if (!sampler.empty() && sampler != "random") {
    label = study.algorithm() == "random" ? sampler : label + "+" + sampler;
  }
  if (!study.pruner().empty() && study.pruner() != "none") label += "+" + study.pruner();
  return label;
}

bool AllTrialsFailed(const v1::Study& study) {
  return study.state() != v1::STUDY_RUNNING && TrialCount(study, v1::FAILED) > 0 &&
         TrialCount(study, v1::FAILED) == TotalCount(study);
}

std::string StudyOutcome(const v1::Study& study) {
  return AllTrialsFailed(study) ? "FAILED" : StudyStateLabel(study.state());
}

std::string StudiesTable(std::vector<v1::Study> studies) {
  std::sort(studies.begin(), studies.end(),
            [](const v1::Study& a, const v1::Study& b) { return a.study_id() < b.study_id(); });
  Table table({"ID", "NAME", "STATE", "ALGORITHM", "TRIALS", "BEST", "CREATED"});
  table.SetAlign(0, Table::Align::kRight);
  table.SetAlign(4, Table::Align::kRight);
  table.SetAlign(5, Table::Align::kRight);
  for (const v1::Study& study : studies) {
    table.AddRow({std::to_string(study.study_id()), study.name(), StudyOutcome(study),
                  AlgorithmLabel(study), DoneOfPlanned(study),
                  study.has_best() ? FormatValue(study.best_trial().value()) : "-",
                  FormatTimestamp(study.created_at())});
  }
  return table.Render();
}

std::string TrialsTable(std::vector<v1::Trial> trials, double now) {
  std::sort(trials.begin(), trials.end(),
            [](const v1::Trial& a, const v1::Trial& b) { return a.number() < b.number(); });
  std::set<std::string> param_names;
  bool brackets = false;
  bool failed = false;
  bool curves = false;  // asked for with --intermediate
  for (const v1::Trial& trial : trials) {
    for (const auto& [name, value] : trial.params()) param_names.insert(name);
    brackets = brackets || trial.bracket() >= 0;
    failed = failed || trial.state() == v1::FAILED;
    curves = curves || trial.intermediate_values_size() > 0;
  }
  std::vector<std::string> headers = {"NUMBER", "ID", "STATE", "VALUE", "EPOCHS"};
  std::vector<size_t> right = {0, 1, 3, 4};
  if (brackets) {
    for (const char* name : {"BRACKET", "RUNG"}) {
      right.push_back(headers.size());
      headers.push_back(name);
    }
  }
  right.push_back(headers.size());
  headers.push_back("ATTEMPT");
  headers.push_back("WORKER");
  headers.insert(headers.end(), param_names.begin(), param_names.end());
  if (curves) headers.push_back("INTERMEDIATE");
  if (failed) headers.push_back("REASON");
  Table table(headers);
  for (size_t column : right) table.SetAlign(column, Table::Align::kRight);
  for (const v1::Trial& trial : trials) {
    std::vector<std::string> row = {std::to_string(trial.number()),
                                    std::to_string(trial.trial_id()),
                                    TrialStateName(trial.state()),
                                    TrialValue(trial),
                                    Epochs(trial)};
    if (brackets) {
      row.push_back(trial.bracket() >= 0 ? std::to_string(trial.bracket()) : "-");
      row.push_back(trial.bracket() >= 0 ? std::to_string(trial.rung()) : "-");
    }
    row.push_back(std::to_string(trial.attempt()));
    std::string worker = trial.worker_name().empty() ? "-" : trial.worker_name();
    if (now > 0 && trial.state() == v1::RUNNING && trial.heartbeat_at() > 0 &&
        now - trial.heartbeat_at() >= kSilentAfterSeconds) {
      worker += " (silent " + FormatDuration(now - trial.heartbeat_at()) + ")";
    }
    row.push_back(worker);
    for (const std::string& name : param_names) {
      auto it = trial.params().find(name);
      row.push_back(it == trial.params().end() ? "-" : FormatParamShort(it->second));
    }
    if (curves) row.push_back(IntermediateCell(trial, 8));
    if (failed) row.push_back(trial.state() == v1::FAILED ? ShortReason(trial.fail_reason()) : "");
    table.AddRow(std::move(row));
  }
  return table.Render();
}

std::string BestTrialsText(const std::vector<v1::Trial>& trials) {
  std::string out;
  for (size_t i = 0; i < trials.size(); ++i) {
    const v1::Trial& trial = trials[i];
    out += "#" + std::to_string(i + 1) + "  trial " + std::to_string(trial.trial_id()) +
           " (number " + std::to_string(trial.number()) + ")  value " + TrialValue(trial) + "\n";
    out += "    params   " + FormatParams(trial.params()) + "\n";
    if (trial.metrics_size() > 0) out += "    metrics  " + Metrics(trial.metrics()) + "\n";
  }
  return out;
}

std::string FormatEta(const v1::Study& study, double now) {
  if (study.state() != v1::STUDY_RUNNING) return "-";
  if (study.planned_epochs() > 0) {
    const std::optional<double> seconds = EtaSeconds(study, now);
    return seconds ? FormatDuration(*seconds) : "?";
  }
  // A server without epoch counts: trials left over the completion rate.
  const int64_t done = DoneCount(study);
  const double elapsed = Elapsed(study, now);
  if (study.planned_trials() <= 0 || done <= 0 || elapsed <= 0) return "?";
  const double rate = done / elapsed;  // trials per second
  return FormatDuration(std::max<int64_t>(0, study.planned_trials() - done) / rate);
}

std::vector<std::string> StudySummary(const v1::Study& study, double now,
                                      const SummaryOptions& options) {
  std::vector<std::string> lines;
  lines.push_back("study " + std::to_string(study.study_id()) + " " + Quoted(study.name()) +
                  "  " + StudyOutcome(study) + "  " + AlgorithmLabel(study) + "  " +
                  Direction(study.direction()) + " " + study.objective_metric());

  const int64_t done = DoneCount(study);
  std::string facts = DoneOfPlanned(study) + " done" + Percent(done, study.planned_trials()) +
                      "  elapsed " + FormatDuration(Elapsed(study, now));
  if (study.state() == v1::STUDY_RUNNING) {
    facts += "  ETA " + (options.eta.empty() ? FormatEta(study, now) : options.eta);
  }
  std::string progress = "progress  ";
  if (study.planned_trials() > 0) {
    // The bar takes what the line leaves of the terminal, 10 to 30 cells.
    int bar = 30;
    if (options.width > 0) {
      const int rest = static_cast<int>(progress.size() + 4 + DisplayWidth(facts));
      bar = std::clamp(options.width - 1 - rest, 10, 30);
    }
    progress += ProgressBar(done, study.planned_trials(), bar) + "  ";
  }
  lines.push_back(progress + facts);

  lines.push_back("trials    done " + std::to_string(done) +
                  " (completed " + std::to_string(TrialCount(study, v1::COMPLETED)) +
                  ", pruned " + std::to_string(TrialCount(study, v1::PRUNED)) +
                  ", failed " + std::to_string(TrialCount(study, v1::FAILED)) +
                  ", stopped " + std::to_string(TrialCount(study, v1::STOPPED)) + ")" +
                  "  running " + std::to_string(TrialCount(study, v1::RUNNING)) +
                  "  pending " + std::to_string(TrialCount(study, v1::PENDING)) +
                  "  paused " + std::to_string(TrialCount(study, v1::PAUSED)));

  if (OnlyFailures(study)) {
    const int64_t failed = TrialCount(study, v1::FAILED);
    std::string line = AllTrialsFailed(study)
                           ? "failed    every trial failed (" + std::to_string(failed) + " of " +
                                 std::to_string(TotalCount(study)) + ")"
                           : "failed    every trial that ended so far failed (" +
                                 std::to_string(failed) + ")";
    if (!options.failure.empty()) line += "; " + options.failure;
    lines.push_back(line);
    lines.push_back("          tunectl trials " + std::to_string(study.study_id()) +
                    " --state failed shows each reason");
  }

  if (study.has_best()) {
    const v1::Trial& best = study.best_trial();
    lines.push_back("best      " + TrialValue(best) + "  trial " + std::to_string(best.trial_id()) +
                    " (number " + std::to_string(best.number()) + ")  " +
                    FormatParams(best.params(), /*short_floats=*/true));
    if (best.metrics_size() > 0) lines.push_back("          metrics " + Metrics(best.metrics()));
  } else {
    lines.push_back("best      - (no completed trial yet)");
  }

  if (study.brackets_size() > 0) {
    lines.push_back(study.algorithm() == "asha"
                        ? "brackets  (ASHA; RUNG: the highest rung reached, 0-based, of RUNGS; "
                          "TRIALS: configurations started so far)"
                        : "brackets  (Hyperband; RUNG: the rung being worked on, 0-based, of RUNGS)");
    Table table({"BRACKET", "RUNG", "RUNGS", "TRIALS", "FINISHED", "PROGRESS"});
    for (size_t column : {0, 1, 2, 3, 4}) table.SetAlign(column, Table::Align::kRight);
    for (const v1::BracketProgress& b : study.brackets()) {
      table.AddRow({std::to_string(b.bracket()), std::to_string(b.rung()),
                    std::to_string(b.rungs()), std::to_string(b.trials()),
                    std::to_string(b.finished()),
                    ProgressBar(b.finished(), b.trials(), 20)});
    }
    const std::string text = table.Render();
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      lines.push_back("  " + text.substr(start, end - start));
      start = end + 1;
    }
  }
  return lines;
}

std::string TrialLine(const v1::Trial& trial) {
  std::string line = "trial " + std::to_string(trial.trial_id()) + " (number " +
                     std::to_string(trial.number()) + ") " + TrialStateName(trial.state());
  if (trial.bracket() >= 0) {  // Hyperband
    line += "  bracket " + std::to_string(trial.bracket()) + " rung " + std::to_string(trial.rung());
  }
  if (trial.epochs_done() > 0 || trial.budget_epochs() > 0) line += "  epoch " + Epochs(trial);
  if (trial.has_value()) line += "  value " + FormatValue(trial.value());
  if (!trial.worker_name().empty()) line += "  worker " + trial.worker_name();
  if (trial.state() == v1::FAILED && !trial.fail_reason().empty()) {
    line += "  reason: " + trial.fail_reason();
  }
  if (trial.params_size() > 0) line += "  " + FormatParams(trial.params(), /*short_floats=*/true);
  return line;
}

std::string StudyLine(const v1::Study& study, double now, const std::string& eta) {
  std::string line = "study " + std::to_string(study.study_id()) + " " +
                     StudyOutcome(study) + "  " + DoneOfPlanned(study) + " done" +
                     "  running " + std::to_string(TrialCount(study, v1::RUNNING)) +
                     "  pending " + std::to_string(TrialCount(study, v1::PENDING)) +
                     "  paused " + std::to_string(TrialCount(study, v1::PAUSED)) +
                     "  failed " + std::to_string(TrialCount(study, v1::FAILED)) + "  " +
                     BestOf(study);
  if (study.state() == v1::STUDY_RUNNING) {
    line += "  ETA " + (eta.empty() ? FormatEta(study, now) : eta);
  }
  if (AllTrialsFailed(study)) line += "  (every trial failed)";
  return line;
}

std::string EventLine(const v1::StudyEvent& event, double now, const std::string& eta) {
  std::string line = FormatClock(now) + " ";
  switch (event.kind()) {
    case v1::StudyEvent::TRIAL_UPDATED:
      return line + TrialLine(event.trial());
    case v1::StudyEvent::STUDY_FINISHED:
      return line + StudyLine(event.study(), now, eta) + "  (finished)";
    default:
      return line + StudyLine(event.study(), now, eta);
  }
}

}  // namespace tuner::tunectl
