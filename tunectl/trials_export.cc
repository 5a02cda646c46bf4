#include "tunectl/trials_export.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "tunectl/format.h"

namespace tuner::tunectl {
namespace {

std::string CsvCell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string Number(double value) { return FormatFloat(value); }

std::string Time(double unix_seconds) { return unix_seconds > 0 ? Number(unix_seconds) : ""; }

std::string Short(double value) {
  if (!std::isfinite(value)) return FormatFloat(value);
  char text[32];
  std::snprintf(text, sizeof(text), "%.4g", value);
  return text;
}

}  // namespace

std::string TrialsCsv(std::vector<v1::Trial> trials, bool with_intermediate) {
  std::sort(trials.begin(), trials.end(),
            [](const v1::Trial& a, const v1::Trial& b) { return a.number() < b.number(); });
  std::set<std::string> params;
  std::set<std::string> metrics;
  for (const v1::Trial& trial : trials) {
    for (const auto& [name, value] : trial.params()) params.insert(name);
    for (const auto& [name, value] : trial.metrics()) metrics.insert(name);
  }
  std::vector<std::string> header = {"number",      "trial_id",   "state",       "value",
                                     "epochs_done", "budget_epochs", "bracket", "rung",
                                     "attempt",     "worker_name", "created_at", "started_at",
                                     "finished_at"};
  for (const std::string& name : params) header.push_back("params_" + name);
  for (const std::string& name : metrics) header.push_back("metrics_" + name);
  header.push_back("fail_reason");
  if (with_intermediate) header.push_back("intermediate_values");

  auto line = [](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) out += (i ? "," : "") + CsvCell(cells[i]);
    return out + "\r\n";
  };
  std::string out = line(header);
  for (const v1::Trial& trial : trials) {
    std::vector<std::string> row = {std::to_string(trial.number()),
                                    std::to_string(trial.trial_id()),
                                    TrialStateName(trial.state()),
                                    trial.has_value() ? Number(trial.value()) : "",
                                    std::to_string(trial.epochs_done()),
                                    std::to_string(trial.budget_epochs()),
                                    std::to_string(trial.bracket()),
                                    std::to_string(trial.rung()),
                                    std::to_string(trial.attempt()),
                                    trial.worker_name(),
                                    Time(trial.created_at()),
                                    Time(trial.started_at()),
                                    Time(trial.finished_at())};
    for (const std::string& name : params) {
      auto it = trial.params().find(name);
      row.push_back(it == trial.params().end() ? "" : FormatParam(it->second));
    }
    for (const std::string& name : metrics) {
      auto it = trial.metrics().find(name);
      row.push_back(it == trial.metrics().end() ? "" : Number(it->second));
    }
    row.push_back(trial.fail_reason());
    if (with_intermediate) {
      std::string values;
      for (const v1::IntermediateValue& v : trial.intermediate_values()) {
        if (v.execution() != 0) continue;
        values += (values.empty() ? "" : " ") + std::to_string(v.epoch()) + ":" + Number(v.value());
      }
      row.push_back(values);
    }
    out += line(row);
  }
  return out;
}

std::string IntermediateCell(const v1::Trial& trial, int max_epochs) {
  std::map<int, std::pair<double, int>> by_epoch;  // epoch -> (sum, count)
  for (const v1::IntermediateValue& v : trial.intermediate_values()) {
    auto& [sum, count] = by_epoch[v.epoch()];
    sum += v.value();
    ++count;
  }
  if (by_epoch.empty()) return "-";
  std::string out;
  int skip = static_cast<int>(by_epoch.size()) - std::max(1, max_epochs);
  if (skip > 0) out = "\u2026";
  for (const auto& [epoch, sum_count] : by_epoch) {
    if (skip-- > 0) continue;
    out += (out.empty() ? "" : " ") + Short(sum_count.first / sum_count.second);
  }
  return out;
}

}  // namespace tuner::tunectl
