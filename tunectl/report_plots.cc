// The optimization history and learning-curve sections of `tunectl report`.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "tunectl/format.h"
#include "tunectl/report_sections.h"
#include "tunectl/svg.h"

namespace tuner::tunectl::report {
namespace {

using svg::Coord;
using svg::Escape;

constexpr double kWidth = 1100;

bool IsFinal(v1::TrialState state) {
  return state == v1::COMPLETED || state == v1::PRUNED || state == v1::FAILED ||
         state == v1::STOPPED;
}

std::string Points(const std::vector<std::pair<double, double>>& points) {
  std::string out;
  for (const auto& [x, y] : points) out += (out.empty() ? "" : " ") + Coord(x) + "," + Coord(y);
  return out;
}

// The CSS class of a learning curve: how it ended.
std::string CurveClass(v1::TrialState state) {
  switch (state) {
    case v1::COMPLETED: return "completed";
    case v1::PRUNED: return "pruned";
    case v1::FAILED: return "failed";
    case v1::STOPPED: return "stopped";
    default: return "active";
  }
}

}  // namespace

std::string SvgOpen(double height, const std::string& label) {
  return "<svg class=\"plot\" viewBox=\"0 0 " + Coord(kWidth) + " " + Coord(height) +
         "\" width=\"" + Coord(kWidth) + "\" height=\"" + Coord(height) +
         "\" role=\"img\" aria-label=\"" + Escape(label) + "\">";
}

std::vector<const v1::Trial*> CompletedTrials(const ReportData& data) {
  std::vector<const v1::Trial*> out;
  for (const v1::Trial& t : data.trials) {
    if (t.state() == v1::COMPLETED && t.has_value() && std::isfinite(t.value())) {
      out.push_back(&t);
    }
  }
  return out;
}

bool Better(double a, double b, bool maximize) { return maximize ? a > b : a < b; }

std::string TrialTitle(const v1::Trial& trial) {
  std::string title = "trial " + std::to_string(trial.trial_id()) + " (number " +
                      std::to_string(trial.number()) + ") " + TrialStateName(trial.state());
  if (trial.has_value()) title += " value " + FormatValue(trial.value());
  if (trial.bracket() >= 0) {
    title += " bracket " + std::to_string(trial.bracket()) + " rung " +
             std::to_string(trial.rung());
  }
  if (!trial.params().empty()) title += " " + FormatParams(trial.params());
  return title;
}

// The value a finished trial is plotted at: its objective, or for a STOPPED trial without
// one its last intermediate value (the mean over executions at its last epoch).
std::optional<double> HistoryValue(const v1::Trial& trial) {
  if (trial.has_value()) {
    if (std::isfinite(trial.value())) return trial.value();
    return std::nullopt;
  }
  if (trial.state() != v1::STOPPED) return std::nullopt;
  std::map<int, std::pair<double, int>> by_epoch;  // epoch -> (sum, count)
  for (const v1::IntermediateValue& v : trial.intermediate_values()) {
    if (!std::isfinite(v.value())) continue;
    auto& [sum, count] = by_epoch[v.epoch()];
    sum += v.value();
    ++count;
  }
  if (by_epoch.empty()) return std::nullopt;
  const auto& [sum, count] = by_epoch.rbegin()->second;
  return sum / count;
}

std::string HistorySection(const ReportData& data) {
  std::string out = "<section id=\"history\"><h2>Optimization history</h2>";
  struct Point {
    const v1::Trial* trial;
    double value;
  };
  std::vector<Point> points;
  for (const v1::Trial& trial : data.trials) {
    if (!IsFinal(trial.state())) continue;
    if (const std::optional<double> v = HistoryValue(trial)) points.push_back({&trial, *v});
  }
  if (points.empty()) {
    return out + "<p class=\"empty\">No finished trial has a value yet: nothing to plot.</p>" +
           "</section>";
  }
  // In the order the trials finished (a Hyperband study finishes its early numbers last);
  // trials without a finish time (older servers) keep their number order at the end.
  std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    const double fa = a.trial->finished_at(), fb = b.trial->finished_at();
    if ((fa > 0) != (fb > 0)) return fa > 0;
    return fa < fb;
  });
  double lo = points[0].value, hi = lo;
  for (const Point& p : points) {
    lo = std::min(lo, p.value);
    hi = std::max(hi, p.value);
  }
  const double last = static_cast<double>(points.size());
  svg::Frame frame{80, 30, 990, 290};
  svg::Axis x = svg::FitAxis(1, last, false, frame.left + 8, frame.right() - 8);
  if (x.hi - x.lo <= 10) {
    x.ticks.clear();
    for (double v = std::ceil(x.lo); v <= x.hi; v += 1) x.ticks.push_back(v);
  }
  const svg::Axis y = svg::FitAxis(lo, hi, false, frame.bottom(), frame.top);
  const std::string metric = ObjectiveName(data);

  out += SvgOpen(frame.bottom() + 50, "optimization history");
  out += svg::AxesSvg(frame, x, y, "trials finished (in the order they finished)", metric);
  // Best so far: a step line over the completed trials in the order they finished.
  std::vector<std::pair<double, double>> line;
  double best = 0;
  int completed = 0, pruned = 0, stopped = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const v1::Trial* t = points[i].trial;
    if (t->state() != v1::COMPLETED) continue;
    const double px = x.Map(static_cast<double>(i + 1));
    if (completed++ == 0) {
      best = t->value();
      line.emplace_back(px, y.Map(best));
    } else if (Better(t->value(), best, data.maximize)) {
      line.emplace_back(px, y.Map(best));
      best = t->value();
      line.emplace_back(px, y.Map(best));
    }
  }
  if (!line.empty()) {
    line.emplace_back(x.Map(last), y.Map(best));
    out += "<polyline class=\"best-line\" points=\"" + Points(line) +
           "\"><title>best so far: " + Escape(FormatValue(best)) + "</title></polyline>";
  }
  for (size_t i = 0; i < points.size(); ++i) {
    const v1::Trial* t = points[i].trial;
    const char* cls = "stopped-early";
    if (t->state() == v1::COMPLETED) cls = "completed";
    if (t->state() == v1::STOPPED) cls = "stopped", ++stopped;
    if (t->state() == v1::PRUNED || t->state() == v1::FAILED) ++pruned;
    out += "<circle class=\"pt " + std::string(cls) + "\" cx=\"" +
           Coord(x.Map(static_cast<double>(i + 1))) + "\" cy=\"" + Coord(y.Map(points[i].value)) +
           "\" r=\"4\"><title>" + Escape(std::to_string(i + 1) + ". to finish: " + TrialTitle(*t)) +
           "</title></circle>";
  }
  // Legend, top right.
  double lx = frame.right() - 210 - (pruned > 0 ? 120 : 0) - (stopped > 0 ? 100 : 0);
  const double ly = 14;
  auto key = [&](const char* cls, const char* label, double width) {
    out += "<circle class=\"pt " + std::string(cls) + " key\" cx=\"" + Coord(lx) + "\" cy=\"" +
           Coord(ly) + "\" r=\"4\"/>" + svg::Text(lx + 9, ly + 4, label);
    lx += width;
  };
  out += "<g class=\"legend\">";
  key("completed", "completed", 100);
  if (pruned > 0) key("stopped-early", "pruned / failed", 120);
  if (stopped > 0) key("stopped", "stopped", 100);
  out += "<line class=\"best-line\" x1=\"" + Coord(lx - 5) + "\" x2=\"" + Coord(lx + 20) +
         "\" y1=\"" + Coord(ly) + "\" y2=\"" + Coord(ly) + "\"/>" +
         svg::Text(lx + 26, ly + 4, "best so far") + "</g>";
  out += "</svg>";
  out += "<p class=\"caption\">" + std::to_string(completed) + " completed";
  if (pruned > 0) {
    out += ", " + std::to_string(pruned) + " pruned or failed (their value at the epoch they stopped)";
  }
  if (stopped > 0) {
    out += ", " + std::to_string(stopped) + " stopped with the study (their last reported value)";
  }
  out += " trials, in the order they finished (the trial number is in each point's title); the "
         "line is the best completed value so far (" +
         std::string(data.maximize ? "maximize" : "minimize") + " " + Escape(metric) + ").</p>";
  return out + "</section>";
}

std::string CurvesSection(const ReportData& data) {
  const std::string metric = ObjectiveName(data);
  std::string out = "<section id=\"curves\"><h2>Learning curves: " + Escape(metric) +
                    " per epoch</h2>";
  struct Series {
    const v1::Trial* trial;
    int execution;
    std::vector<std::pair<int, double>> values;  // epoch, value
  };
  std::vector<Series> series;
  double lo = 0, hi = 0;
  int max_epoch = 0;
  bool any = false;
  for (const v1::Trial& trial : data.trials) {
    std::map<int, std::map<int, double>> by_execution;
    for (const v1::IntermediateValue& v : trial.intermediate_values()) {
      if (!std::isfinite(v.value()) || v.epoch() < 1) continue;
      by_execution[v.execution()][v.epoch()] = v.value();
    }
    for (const auto& [execution, values] : by_execution) {
      Series s{&trial, execution, {values.begin(), values.end()}};
      for (const auto& [epoch, value] : s.values) {
        if (!any) lo = hi = value, any = true;
        lo = std::min(lo, value);
        hi = std::max(hi, value);
        max_epoch = std::max(max_epoch, epoch);
      }
      series.push_back(std::move(s));
    }
  }
  if (series.empty()) {
    return out + "<p class=\"empty\">No trial has reported a per-epoch value yet: nothing to " +
           "plot.</p></section>";
  }
  svg::Frame frame{80, 30, 990, 330};
  // Hyperband rungs grow geometrically: a log epoch axis spaces them evenly.
  const bool log_x = data.hyperband && max_epoch >= 9;
  svg::Axis x;
  if (log_x) {
    x = svg::FitAxis(1, max_epoch, true, frame.left + 8, frame.right() - 8);
    std::set<int> budgets;
    for (const v1::Trial& trial : data.trials) {
      if (trial.budget_epochs() > 0) budgets.insert(trial.budget_epochs());
    }
    budgets.insert(1);
    budgets.insert(max_epoch);
    x.ticks.assign(budgets.begin(), budgets.end());
  } else {
    x = svg::FitAxis(1, std::max(max_epoch, 2), false, frame.left + 8, frame.right() - 8);
    x.lo = 1;
    if (x.hi - x.lo <= 12) {
      for (int e = 1; e <= x.hi; ++e) x.ticks.push_back(e);
    }
  }
  const svg::Axis y = svg::FitAxis(lo, hi, false, frame.bottom(), frame.top);

  // Draw the early-stopped curves first so the completed ones and the best stay on top.
  const int64_t best_id = data.study.has_best() ? data.study.best_trial().trial_id() : -1;
  auto rank = [&](const Series& s) {
    if (s.trial->trial_id() == best_id) return 5;
    switch (s.trial->state()) {
      case v1::PRUNED: return 0;
      case v1::STOPPED: return 1;
      case v1::FAILED: return 2;
      case v1::COMPLETED: return 4;
      default: return 3;
    }
  };
  std::stable_sort(series.begin(), series.end(),
                   [&](const Series& a, const Series& b) { return rank(a) < rank(b); });
  std::map<std::string, int> counts;  // trials per curve class
  std::set<int64_t> counted;

  out += SvgOpen(frame.bottom() + 50, "learning curves");
  out += svg::AxesSvg(frame, x, y, log_x ? "epoch (log scale; ticks at the rung budgets)" : "epoch",
                      metric);
  for (const Series& s : series) {
    std::vector<std::pair<double, double>> points;
    for (const auto& [epoch, value] : s.values) points.emplace_back(x.Map(epoch), y.Map(value));
    std::string cls = CurveClass(s.trial->state());
    if (counted.insert(s.trial->trial_id()).second) counts[cls]++;
    if (s.trial->trial_id() == best_id) cls += " best";
    if (points.size() == 1) {  // one epoch: a dot, drawn by the round caps of a 0-length line
      points.push_back(points[0]);
      cls += " dot";
    }
    out += "<polyline class=\"curve " + cls + "\" points=\"" + Points(points) + "\"><title>" +
           Escape(TrialTitle(*s.trial)) + ", execution " + std::to_string(s.execution) + ": " +
           std::to_string(s.values.size()) + " epochs, last " +
           Escape(FormatValue(s.values.back().second)) + "</title></polyline>";
  }
  // Legend, top: a sample of each style with its trial count.
  double lx = frame.left + 10;
  out += "<g class=\"legend\">";
  for (const char* cls : {"completed", "pruned", "stopped", "failed", "active"}) {
    const auto it = counts.find(cls);
    if (it == counts.end()) continue;
    const std::string label = std::string(cls == std::string("active") ? "running / paused"
                                                                         : cls) +
                              " (" + std::to_string(it->second) + ")";
    out += "<line class=\"curve " + std::string(cls) + "\" x1=\"" + Coord(lx) + "\" x2=\"" +
           Coord(lx + 28) + "\" y1=\"14\" y2=\"14\"/>" + svg::Text(lx + 34, 18, label);
    lx += 60 + 8.0 * label.size();
  }
  if (best_id >= 0) {
    out += "<line class=\"curve completed best\" x1=\"" + Coord(lx) + "\" x2=\"" + Coord(lx + 28) +
           "\" y1=\"14\" y2=\"14\"/>" +
           svg::Text(lx + 34, 18, "best trial " + std::to_string(best_id));
  }
  out += "</g></svg>";
  out += "<p class=\"caption\">" + std::to_string(series.size()) + " curves (one per trial and " +
         "execution) over " + std::to_string(counted.size()) + " trials.";
  if (data.hyperband) {
    out += " A promoted trial continues from its checkpoint, so its curve goes on through the "
           "next rungs.";
  }
  return out + "</p></section>";
}

}  // namespace tuner::tunectl::report
