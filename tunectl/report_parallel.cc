// The parallel-coordinates section of `tunectl report`.
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
constexpr double kTop = 50;
constexpr double kHeight = 300;

// One vertical axis: a numeric param (linear or log), a categorical one, or the objective.
struct PcAxis {
  std::string name;
  bool categorical = false;
  std::vector<std::string> categories;  // categorical: the values, bottom to top
  svg::Axis scale;                      // numeric: maps onto the axis' pixels
  double x = 0;

  // The pixel height of a trial's value; nullopt when the trial lacks the param.
  std::optional<double> Y(const v1::ParamValue& value) const {
    if (categorical) {
      const std::string key = FormatParam(value);
      const auto it = std::find(categories.begin(), categories.end(), key);
      if (it == categories.end()) return std::nullopt;
      const double t = (static_cast<double>(it - categories.begin()) + 0.5) /
                       static_cast<double>(categories.size());
      return kTop + kHeight - t * kHeight;
    }
    double v;
    switch (value.kind_case()) {
      case v1::ParamValue::kIntValue: v = static_cast<double>(value.int_value()); break;
      case v1::ParamValue::kFloatValue: v = value.float_value(); break;
      default: return std::nullopt;
    }
    if (!std::isfinite(v)) return std::nullopt;
    return scale.Map(v);
  }
};

// The param axes: in spec order with the spec's ranges when the spec parses; otherwise from
// the trials themselves (names sorted, strings categorical, numbers linear over their range).
std::vector<PcAxis> ParamAxes(const ReportData& data, const std::vector<const v1::Trial*>& shown) {
  std::vector<PcAxis> axes;
  const double bottom = kTop + kHeight;
  if (data.spec) {
    for (const search::ParamSpec& p : data.spec->space.params) {
      PcAxis axis;
      axis.name = p.name;
      if (p.kind == search::ParamKind::kChoice) {
        axis.categorical = true;
        for (const search::ParamValue& v : p.values) axis.categories.push_back(FormatParam(ToProto(v)));
      } else if (p.log) {
        axis.scale = svg::FitAxis(p.min, p.max, true, bottom, kTop);
      } else {
        axis.scale = svg::FitAxis(p.min, p.max, false, bottom, kTop);
        if (p.max > p.min) axis.scale.lo = p.min, axis.scale.hi = p.max;
        if (p.kind == search::ParamKind::kInt && p.max - p.min <= 12) {
          for (double v = p.min; v <= p.max; v += 1) axis.scale.ticks.push_back(v);
        }
      }
      axes.push_back(std::move(axis));
    }
    return axes;
  }
  std::map<std::string, std::vector<v1::ParamValue>> values;
  for (const v1::Trial* t : shown) {
    for (const auto& [name, value] : t->params()) values[name].push_back(value);
  }
  for (const auto& [name, list] : values) {
    PcAxis axis;
    axis.name = name;
    const bool strings = std::any_of(list.begin(), list.end(), [](const v1::ParamValue& v) {
      return v.kind_case() == v1::ParamValue::kStringValue;
    });
    if (strings) {
      axis.categorical = true;
      std::set<std::string> unique;
      for (const v1::ParamValue& v : list) unique.insert(FormatParam(v));
      axis.categories.assign(unique.begin(), unique.end());
    } else {
      double lo = INFINITY, hi = -INFINITY;
      for (const v1::ParamValue& v : list) {
        const double d = v.kind_case() == v1::ParamValue::kIntValue
                             ? static_cast<double>(v.int_value())
                             : v.float_value();
        lo = std::min(lo, d);
        hi = std::max(hi, d);
      }
      axis.scale = svg::FitAxis(lo, hi, false, bottom, kTop);
    }
    axes.push_back(std::move(axis));
  }
  return axes;
}

}  // namespace

std::string ParallelSection(const ReportData& data) {
  std::string out = "<section id=\"parallel\"><h2>Parameters: parallel coordinates</h2>";
  // Completed trials in colour; trials stopped early with a value (pruned) in grey behind them.
  std::vector<const v1::Trial*> shown;
  bool any_completed = false;
  for (const v1::Trial& t : data.trials) {
    if (!t.has_value() || !std::isfinite(t.value())) continue;
    if (t.state() == v1::COMPLETED) any_completed = true;
    if (t.state() == v1::COMPLETED || t.state() == v1::PRUNED || t.state() == v1::STOPPED) {
      shown.push_back(&t);
    }
  }
  if (!any_completed) {
    return out + "<p class=\"empty\">No completed trial yet: nothing to plot.</p></section>";
  }
  std::vector<PcAxis> axes = ParamAxes(data, shown);
  double lo = INFINITY, hi = -INFINITY;
  double best_lo = INFINITY, best_hi = -INFINITY;  // completed trials only: the colour scale
  for (const v1::Trial* t : shown) {
    lo = std::min(lo, t->value());
    hi = std::max(hi, t->value());
    if (t->state() != v1::COMPLETED) continue;
    best_lo = std::min(best_lo, t->value());
    best_hi = std::max(best_hi, t->value());
  }
  const std::string metric = data.study.objective_metric().empty()
                                 ? std::string("objective")
                                 : data.study.objective_metric();
  PcAxis objective;
  objective.name = metric;
  objective.scale = svg::FitAxis(lo, hi, false, kTop + kHeight, kTop);
  const size_t n = axes.size() + 1;
  const double first_x = 110, last_x = 930;
  for (size_t i = 0; i < axes.size(); ++i) {
    axes[i].x = n == 1 ? first_x : first_x + (last_x - first_x) * i / (n - 1);
  }
  objective.x = last_x;

  // Worst first, so the best lines end up on top.
  const bool maximize = data.maximize;
  auto goodness = [&](double v) {
    const double t = best_hi > best_lo ? (v - best_lo) / (best_hi - best_lo) : 1.0;
    return maximize ? t : 1 - t;
  };
  std::vector<const v1::Trial*> order = shown;
  std::stable_sort(order.begin(), order.end(), [&](const v1::Trial* a, const v1::Trial* b) {
    const bool ca = a->state() == v1::COMPLETED, cb = b->state() == v1::COMPLETED;
    if (ca != cb) return cb;
    return goodness(a->value()) < goodness(b->value());
  });

  out += "<svg class=\"plot\" viewBox=\"0 0 1100 " + Coord(kTop + kHeight + 40) +
         "\" width=\"1100\" height=\"" + Coord(kTop + kHeight + 40) +
         "\" role=\"img\" aria-label=\"parallel coordinates\">";
  int completed_lines = 0, grey_lines = 0;
  for (const v1::Trial* t : order) {
    std::string points;
    bool complete = true;
    for (const PcAxis& axis : axes) {
      const auto it = t->params().find(axis.name);
      const std::optional<double> y =
          it == t->params().end() ? std::nullopt : axis.Y(it->second);
      if (!y) {
        complete = false;
        break;
      }
      points += Coord(axis.x) + "," + Coord(*y) + " ";
    }
    if (!complete) continue;
    points += Coord(objective.x) + "," + Coord(objective.scale.Map(t->value()));
    const bool done = t->state() == v1::COMPLETED;
    (done ? completed_lines : grey_lines)++;
    out += "<polyline class=\"pc-line" + std::string(done ? "" : " pc-early") + "\" points=\"" +
           points + "\"";
    if (done) out += " stroke=\"" + svg::Viridis(goodness(t->value())) + "\"";
    out += "><title>" + Escape(TrialTitle(*t)) + "</title></polyline>";
  }
  // The axes over the lines, with their names on top and ticks on their left.
  // Ticks go left of an axis, except on the last (the objective), where the lines come in
  // from the left.
  auto draw_axis = [&](const PcAxis& axis, const std::string& label, bool log, bool right) {
    const double side = right ? 1 : -1;
    const char* anchor = right ? "start" : "end";
    std::string g = "<g class=\"pc-axis\"><line class=\"axis\" x1=\"" + Coord(axis.x) +
                     "\" x2=\"" + Coord(axis.x) + "\" y1=\"" + Coord(kTop) + "\" y2=\"" +
                     Coord(kTop + kHeight) + "\"/>";
    const double title_y = kTop - 30;
    g += svg::Text(axis.x, title_y, label, "middle", "title");
    if (log) g += svg::Text(axis.x, kTop - 14, "log scale", "middle", "tick");
    if (axis.categorical) {
      const size_t k = axis.categories.size();
      const size_t every = k > 12 ? (k + 11) / 12 : 1;
      for (size_t i = 0; i < k; i += every) {
        const double y = kTop + kHeight - (i + 0.5) / k * kHeight;
        g += "<line class=\"tickmark\" x1=\"" + Coord(axis.x + 4 * side) + "\" x2=\"" + Coord(axis.x) +
             "\" y1=\"" + Coord(y) + "\" y2=\"" + Coord(y) + "\"/>";
        g += svg::Text(axis.x + 7 * side, y + 4, axis.categories[i], anchor, "tick halo");
      }
    } else {
      for (double v : axis.scale.Ticks()) {
        const double y = axis.scale.Map(v);
        g += "<line class=\"tickmark\" x1=\"" + Coord(axis.x + 4 * side) + "\" x2=\"" + Coord(axis.x) +
             "\" y1=\"" + Coord(y) + "\" y2=\"" + Coord(y) + "\"/>";
        g += svg::Text(axis.x + 7 * side, y + 4, axis.scale.Label(v), anchor, "tick halo");
      }
    }
    return g + "</g>";
  };
  for (const PcAxis& axis : axes) {
    out += draw_axis(axis, axis.name, !axis.categorical && axis.scale.log, false);
  }
  out += draw_axis(objective, metric, false, true);
  // Colour legend: a vertical bar from worst (bottom) to best (top) completed value.
  const double lx = 1040;
  out += "<g class=\"legend\">";
  constexpr int kSteps = 20;
  for (int i = 0; i < kSteps; ++i) {
    const double t = (i + 0.5) / kSteps;
    out += "<rect x=\"" + Coord(lx) + "\" y=\"" + Coord(kTop + kHeight - (i + 1) * kHeight / kSteps) +
           "\" width=\"14\" height=\"" + Coord(kHeight / kSteps + 0.5) + "\" fill=\"" +
           svg::Viridis(t) + "\"/>";
  }
  const double best = maximize ? best_hi : best_lo, worst = maximize ? best_lo : best_hi;
  out += svg::Text(lx + 7, kTop - 30, "colour", "middle", "title");
  out += svg::Text(lx + 7, kTop - 8, "best " + FormatValue(best), "middle", "tick");
  out += svg::Text(lx + 7, kTop + kHeight + 16, "worst " + FormatValue(worst), "middle", "tick");
  out += "</g></svg>";
  out += "<p class=\"caption\">" + std::to_string(completed_lines) +
         " completed trials, coloured by " + Escape(metric) + " (yellow is best)";
  if (grey_lines > 0) {
    out += "; " + std::to_string(grey_lines) +
           " trials stopped early in grey, at their last value";
  }
  out += ". Choice params are categorical axes in the spec's order.</p>";
  return out + "</section>";
}

}  // namespace tuner::tunectl::report
