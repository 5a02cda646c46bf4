// The param-importance and slice sections of `tunectl report`, and the param axes they share
// with the contour plot.
#include <algorithm>
#include <cmath>
#include <optional>

#include "tunectl/format.h"
#include "tunectl/report_sections.h"
#include "tunectl/svg.h"

namespace tuner::tunectl::report {
using svg::Coord;
using svg::Escape;

v1::ParamValue ToProto(const search::ParamValue& value) {
  v1::ParamValue out;
  if (const auto* i = std::get_if<int64_t>(&value)) out.set_int_value(*i);
  if (const auto* d = std::get_if<double>(&value)) out.set_float_value(*d);
  if (const auto* s = std::get_if<std::string>(&value)) out.set_string_value(*s);
  return out;
}

svg::Axis ParamAxis(const search::ParamSpec& p, double px_lo, double px_hi) {
  if (p.kind == search::ParamKind::kChoice) {
    const double k = static_cast<double>(std::max<size_t>(1, p.values.size()));
    svg::Axis axis = svg::FitAxis(-0.5, k - 0.5, false, px_lo, px_hi);
    axis.lo = -0.5;
    axis.hi = k - 0.5;
    for (size_t i = 0; i < p.values.size(); ++i) {
      axis.ticks.push_back(static_cast<double>(i));
      axis.tick_labels.push_back(FormatParam(ToProto(p.values[i])));
    }
    return axis;
  }
  svg::Axis axis = svg::FitAxis(p.min, p.max, p.log, px_lo, px_hi);
  if (!p.log && p.max > p.min) axis.lo = p.min, axis.hi = p.max;
  if (p.kind == search::ParamKind::kInt && !p.log && p.max - p.min <= 10) {
    for (double v = p.min; v <= p.max; v += 1) axis.ticks.push_back(v);
  }
  return axis;
}

std::optional<double> ParamPosition(const search::ParamSpec& p, const v1::ParamValue& value) {
  if (p.kind != search::ParamKind::kChoice) return ParamNumber(value);
  const std::string key = FormatParam(value);
  for (size_t i = 0; i < p.values.size(); ++i) {
    if (FormatParam(ToProto(p.values[i])) == key) return static_cast<double>(i);
  }
  return std::nullopt;
}

std::string ObjectiveName(const ReportData& data) {
  return data.study.objective_metric().empty() ? std::string("objective")
                                               : data.study.objective_metric();
}

std::string ImportanceSection(const ReportData& data) {
  std::string out = "<section id=\"importance\"><h2>Parameter importances</h2>";
  if (!data.spec) {
    return out + "<p class=\"empty\">The study's spec does not parse: its params are unknown.</p>" +
           "</section>";
  }
  const std::vector<ParamImportance>& importances = data.importances;
  if (importances.empty()) {
    return out + "<p class=\"empty\">Not enough completed trials with different values (at "
                 "least 4) to tell which params matter.</p></section>";
  }
  constexpr double kLabel = 190, kBar = 22, kTop = 10, kMaxWidth = 760;
  const double height = kTop + kBar * static_cast<double>(importances.size()) + 12;
  out += SvgOpen(height, "parameter importances");
  double y = kTop;
  for (const ParamImportance& i : importances) {
    const double w = std::max(1.0, kMaxWidth * i.share);
    out += "<g class=\"importance\"><title>" +
           Escape(i.name + ": share " + FormatValue(i.share) + ", epsilon^2 " +
                  FormatValue(i.explained) + " over " + std::to_string(i.levels) + " levels") +
           "</title>";
    out += svg::Text(kLabel - 8, y + 15, i.name, "end", "title");
    out += "<rect class=\"importance-bar\" x=\"" + Coord(kLabel) + "\" y=\"" + Coord(y + 3) +
           "\" width=\"" + Coord(w) + "\" height=\"" + Coord(kBar - 6) + "\" rx=\"3\"/>";
    out += svg::Text(kLabel + w + 8, y + 15, FormatValue(i.share), "start", "tick") + "</g>";
    y += kBar;
  }
  out += "</svg><p class=\"caption\">How much of the spread of " + Escape(ObjectiveName(data)) +
         " over the completed trials each param explains on its own: the one-way ANOVA's "
         "bias-corrected share of variance (epsilon squared; numeric params cut into up to 8 "
         "equal-count groups by rank, choices one group per value), scaled to sum to 1. Not "
         "fANOVA: what two params do only together is counted for neither.</p>";
  return out + "</section>";
}

std::string SliceSection(const ReportData& data) {
  std::string out = "<section id=\"slice\"><h2>Slice: " + Escape(ObjectiveName(data)) +
                    " against each param</h2>";
  const std::vector<const v1::Trial*> completed = CompletedTrials(data);
  double lo = INFINITY, hi = -INFINITY;
  int64_t last_number = 0;
  for (const v1::Trial* t : completed) {
    lo = std::min(lo, t->value());
    hi = std::max(hi, t->value());
    last_number = std::max(last_number, t->number());
  }
  if (!data.spec || completed.empty()) {
    return out + "<p class=\"empty\">No completed trial yet: nothing to plot.</p></section>";
  }
  const std::vector<search::ParamSpec>& params = data.spec->space.params;
  constexpr int kColumns = 3;
  constexpr double kPanelW = 366, kPanelH = 230;
  const int rows = (static_cast<int>(params.size()) + kColumns - 1) / kColumns;
  out += SvgOpen(kPanelH * rows + 10, "slice plots");
  for (size_t i = 0; i < params.size(); ++i) {
    const search::ParamSpec& p = params[i];
    const double ox = kPanelW * static_cast<double>(i % kColumns);
    const double oy = kPanelH * static_cast<double>(i / kColumns);
    const svg::Frame frame{ox + 70, oy + 12, kPanelW - 90, kPanelH - 70};
    const svg::Axis x = ParamAxis(p, frame.left + 6, frame.right() - 6);
    const svg::Axis y = svg::FitAxis(lo, hi, false, frame.bottom(), frame.top);
    out += "<g class=\"slice\">" +
           svg::AxesSvg(frame, x, y, p.name + (p.log ? " (log)" : ""),
                        i % kColumns == 0 ? ObjectiveName(data) : std::string());
    for (const v1::Trial* t : completed) {
      const auto it = t->params().find(p.name);
      if (it == t->params().end()) continue;
      const std::optional<double> pos = ParamPosition(p, it->second);
      if (!pos) continue;
      const double age =
          last_number > 0 ? static_cast<double>(t->number()) / static_cast<double>(last_number) : 1;
      out += "<circle class=\"slice-pt\" cx=\"" + Coord(x.Map(*pos)) + "\" cy=\"" +
             Coord(y.Map(t->value())) + "\" r=\"3.5\" fill=\"" + svg::Viridis(age) +
             "\"><title>" + Escape(TrialTitle(*t)) + "</title></circle>";
    }
    out += "</g>";
  }
  out += "</svg><p class=\"caption\">One point per completed trial, coloured by trial number "
         "(dark: early, yellow: late), so a sampler that narrows in shows yellow points "
         "gathering where the good values are. A conditional param shows only the trials "
         "where it was active.</p>";
  return out + "</section>";
}

}  // namespace tuner::tunectl::report
