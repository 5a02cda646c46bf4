// The contour and empirical-distribution sections of `tunectl report`.
#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "tunectl/format.h"
#include "tunectl/report_sections.h"
#include "tunectl/svg.h"

namespace tuner::tunectl::report {
namespace {

using svg::Coord;
using svg::Escape;

constexpr int kCells = 30;  // the contour's grid is kCells x kCells

// The two numeric params the contour shows: the most important ones, else the first two.
std::vector<const search::ParamSpec*> ContourParams(const ReportData& data) {
  std::vector<const search::ParamSpec*> numeric;
  for (const search::ParamSpec& p : data.spec->space.params) {
    if (p.kind != search::ParamKind::kChoice && p.max > p.min) numeric.push_back(&p);
  }
  if (numeric.size() <= 2) return numeric;
  std::vector<const search::ParamSpec*> out;
  for (const ParamImportance& i : data.importances) {
    for (const search::ParamSpec* p : numeric) {
      if (p->name == i.name && out.size() < 2) out.push_back(p);
    }
  }
  for (const search::ParamSpec* p : numeric) {
    if (out.size() < 2 && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

// Where v lies in p's range, 0..1 (log params in log space).
double Unit(const search::ParamSpec& p, double v) {
  if (p.log && p.min > 0 && v > 0) return (std::log(v) - std::log(p.min)) / (std::log(p.max) - std::log(p.min));
  return (v - p.min) / (p.max - p.min);
}

}  // namespace

std::string ContourSection(const ReportData& data) {
  std::string out = "<section id=\"contour\"><h2>Contour";
  if (!data.spec) {
    return out + "</h2><p class=\"empty\">The study's spec does not parse.</p></section>";
  }
  const std::vector<const search::ParamSpec*> params = ContourParams(data);
  if (params.size() < 2) {
    return out + "</h2><p class=\"note\">The contour needs two numeric params; this space has " +
           std::to_string(params.size()) + ".</p></section>";
  }
  const search::ParamSpec& px = *params[0];
  const search::ParamSpec& py = *params[1];
  struct Point {
    double u, v, value;
    const v1::Trial* trial;
  };
  std::vector<Point> points;
  double lo = INFINITY, hi = -INFINITY;
  for (const v1::Trial* t : CompletedTrials(data)) {
    const auto a = t->params().find(px.name), b = t->params().find(py.name);
    if (a == t->params().end() || b == t->params().end()) continue;
    const std::optional<double> x = ParamNumber(a->second), y = ParamNumber(b->second);
    if (!x || !y) continue;
    points.push_back({Unit(px, *x), Unit(py, *y), t->value(), t});
    lo = std::min(lo, t->value());
    hi = std::max(hi, t->value());
  }
  out += ": " + Escape(px.name) + " and " + Escape(py.name) + "</h2>";
  if (points.size() < 4) {
    return out + "<p class=\"empty\">Fewer than 4 completed trials with both " +
           Escape(px.name) + " and " + Escape(py.name) + ": nothing to draw.</p></section>";
  }
  const svg::Frame frame{90, 16, 760, 400};
  const svg::Axis x = ParamAxis(px, frame.left, frame.right());
  const svg::Axis y = ParamAxis(py, frame.bottom(), frame.top);
  auto goodness = [&](double v) {
    const double t = hi > lo ? (v - lo) / (hi - lo) : 1.0;
    return data.maximize ? t : 1 - t;
  };
  out += SvgOpen(frame.bottom() + 50, "contour");
  // Each cell: the inverse-squared-distance weighted mean of the trials' values (in the unit
  // square of the two ranges), so the shading never claims more than the points say.
  const double cw = frame.width / kCells, ch = frame.height / kCells;
  for (int i = 0; i < kCells; ++i) {
    for (int j = 0; j < kCells; ++j) {
      const double u = (i + 0.5) / kCells, v = (j + 0.5) / kCells;
      double num = 0, den = 0;
      for (const Point& p : points) {
        const double d2 = (p.u - u) * (p.u - u) + (p.v - v) * (p.v - v);
        const double w = 1.0 / std::max(d2, 1e-6);
        num += w * p.value;
        den += w;
      }
      out += "<rect x=\"" + Coord(frame.left + i * cw) + "\" y=\"" +
             Coord(frame.bottom() - (j + 1) * ch) + "\" width=\"" + Coord(cw + 0.4) +
             "\" height=\"" + Coord(ch + 0.4) + "\" fill=\"" + svg::Viridis(goodness(num / den)) +
             "\"/>";
    }
  }
  out += svg::AxesSvg(frame, x, y, px.name + (px.log ? " (log)" : ""),
                      py.name + (py.log ? " (log)" : ""));
  for (const Point& p : points) {
    out += "<circle class=\"contour-pt\" cx=\"" +
           Coord(frame.left + std::clamp(p.u, 0.0, 1.0) * frame.width) + "\" cy=\"" +
           Coord(frame.bottom() - std::clamp(p.v, 0.0, 1.0) * frame.height) +
           "\" r=\"3.5\"><title>" + Escape(TrialTitle(*p.trial)) + "</title></circle>";
  }
  const double lx = 900;
  for (int k = 0; k < 20; ++k) {
    out += "<rect x=\"" + Coord(lx) + "\" y=\"" + Coord(frame.bottom() - (k + 1) * frame.height / 20) +
           "\" width=\"16\" height=\"" + Coord(frame.height / 20 + 0.5) + "\" fill=\"" +
           svg::Viridis((k + 0.5) / 20) + "\"/>";
  }
  const double best = data.maximize ? hi : lo, worst = data.maximize ? lo : hi;
  out += svg::Text(lx + 24, frame.top + 10, "best " + FormatValue(best), "start", "tick");
  out += svg::Text(lx + 24, frame.bottom(), "worst " + FormatValue(worst), "start", "tick");
  out += "</svg><p class=\"caption\">" + std::to_string(points.size()) +
         " completed trials (the dots) over the two most important numeric params; the "
         "shading is each point's " + Escape(ObjectiveName(data)) +
         " spread by inverse squared distance (yellow is best), an interpolation, not a model "
         "of the params left out.</p>";
  return out + "</section>";
}

std::string EdfSection(const ReportData& data) {
  std::string out = "<section id=\"edf\"><h2>Empirical distribution of " +
                    Escape(ObjectiveName(data)) + "</h2>";
  std::vector<double> values;
  for (const v1::Trial* t : CompletedTrials(data)) values.push_back(t->value());
  if (values.empty()) {
    return out + "<p class=\"empty\">No completed trial yet: nothing to plot.</p></section>";
  }
  std::sort(values.begin(), values.end());
  const svg::Frame frame{80, 16, 990, 240};
  const svg::Axis x = svg::FitAxis(values.front(), values.back(), false, frame.left, frame.right());
  svg::Axis y = svg::FitAxis(0, 1, false, frame.bottom(), frame.top);
  y.lo = 0;
  y.hi = 1;
  out += SvgOpen(frame.bottom() + 50, "empirical distribution");
  out += svg::AxesSvg(frame, x, y, ObjectiveName(data), "fraction of trials");
  std::string points = Coord(frame.left) + "," + Coord(y.Map(0));
  const double n = static_cast<double>(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double px = x.Map(values[i]);
    points += " " + Coord(px) + "," + Coord(y.Map(i / n)) + " " + Coord(px) + "," +
              Coord(y.Map((i + 1) / n));
  }
  points += " " + Coord(frame.right()) + "," + Coord(y.Map(1));
  out += "<polyline class=\"edf-line\" points=\"" + points + "\"><title>" +
         std::to_string(values.size()) + " completed trials</title></polyline></svg>";
  out += "<p class=\"caption\">For each value of " + Escape(ObjectiveName(data)) +
         ", the fraction of the " + std::to_string(values.size()) +
         " completed trials at or below it (Optuna's EDF plot): a steep rise near the best end "
         "means many configurations are about as good.</p>";
  return out + "</section>";
}

}  // namespace tuner::tunectl::report
