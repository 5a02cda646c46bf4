// The optimization history and learning-curve sections of `tunectl report`.
#include <algorithm>
#include <cmath>
#include <map>
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

std::string SvgOpen(double height, const std::string& label) {
  return "<svg class=\"plot\" viewBox=\"0 0 " + Coord(kWidth) + " " + Coord(height) +
         "\" width=\"" + Coord(kWidth) + "\" height=\"" + Coord(height) +
         "\" role=\"img\" aria-label=\"" + Escape(label) + "\">";
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

std::string HistorySection(const ReportData& data) {
  std::string out = "<section id=\"history\"><h2>Optimization history</h2>";
  std::vector<const v1::Trial*> points;
  for (const v1::Trial& trial : data.trials) {
    if (IsFinal(trial.state()) && trial.has_value() && std::isfinite(trial.value())) {
      points.push_back(&trial);
    }
  }
  if (points.empty()) {
    return out + "<p class=\"empty\">No finished trial has a value yet: nothing to plot.</p>" +
           "</section>";
  }
  double lo = points[0]->value(), hi = lo;
  int64_t first = points[0]->number(), last = first;
  for (const v1::Trial* t : points) {
    lo = std::min(lo, t->value());
    hi = std::max(hi, t->value());
    first = std::min(first, t->number());
    last = std::max(last, t->number());
  }
  svg::Frame frame{80, 30, 990, 290};
  svg::Axis x = svg::FitAxis(static_cast<double>(first), static_cast<double>(last), false,
                             frame.left + 8, frame.right() - 8);
  if (x.hi - x.lo <= 10) {
    x.ticks.clear();
    for (double v = std::ceil(x.lo); v <= x.hi; v += 1) x.ticks.push_back(v);
  }
  const svg::Axis y = svg::FitAxis(lo, hi, false, frame.bottom(), frame.top);
  const std::string metric = data.study.objective_metric().empty()
                                 ? std::string("objective")
                                 : data.study.objective_metric();

  out += SvgOpen(frame.bottom() + 50, "optimization history");
  out += svg::AxesSvg(frame, x, y, "trial number", metric);
  // Best so far: a step line over the completed trials in number order.
  std::vector<std::pair<double, double>> line;
  double best = 0;
  int completed = 0;
  for (const v1::Trial* t : points) {
    if (t->state() != v1::COMPLETED) continue;
    const double px = x.Map(static_cast<double>(t->number()));
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
    line.emplace_back(x.Map(static_cast<double>(last)), y.Map(best));
    out += "<polyline class=\"best-line\" points=\"" + Points(line) +
           "\"><title>best so far: " + Escape(FormatValue(best)) + "</title></polyline>";
  }
  for (const v1::Trial* t : points) {
    const bool done = t->state() == v1::COMPLETED;
    out += "<circle class=\"pt " + std::string(done ? "completed" : "stopped-early") +
           "\" cx=\"" + Coord(x.Map(static_cast<double>(t->number()))) + "\" cy=\"" +
           Coord(y.Map(t->value())) + "\" r=\"4\"><title>" + Escape(TrialTitle(*t)) +
           "</title></circle>";
  }
  // Legend, top right.
  const bool early = points.size() > static_cast<size_t>(completed);
  const double lx = frame.right() - (early ? 330 : 210), ly = 14;
  out += "<g class=\"legend\"><circle class=\"pt completed key\" cx=\"" + Coord(lx) + "\" cy=\"" +
         Coord(ly) + "\" r=\"4\"/>" + svg::Text(lx + 9, ly + 4, "completed");
  if (early) {
    out += "<circle class=\"pt stopped-early key\" cx=\"" + Coord(lx + 100) + "\" cy=\"" +
           Coord(ly) + "\" r=\"4\"/>" + svg::Text(lx + 109, ly + 4, "pruned / stopped");
  }
  const double bx = early ? lx + 225 : lx + 105;
  out += "<line class=\"best-line\" x1=\"" + Coord(bx) + "\" x2=\"" + Coord(bx + 25) +
         "\" y1=\"" + Coord(ly) + "\" y2=\"" + Coord(ly) + "\"/>" +
         svg::Text(bx + 31, ly + 4, "best so far") + "</g>";
  out += "</svg>";
  out += "<p class=\"caption\">" + std::to_string(completed) + " completed";
  if (early) {
    out += " and " + std::to_string(points.size() - completed) +
           " pruned or stopped (their value at the epoch they stopped)";
  }
  out += " trials; the line is the best completed value so far (" +
         std::string(data.maximize ? "maximize" : "minimize") + " " + Escape(metric) + ").</p>";
  return out + "</section>";
}

std::string CurvesSection(const ReportData& data) {
  const std::string metric = data.study.objective_metric().empty()
                                 ? std::string("objective")
                                 : data.study.objective_metric();
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
