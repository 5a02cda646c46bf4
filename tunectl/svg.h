// Small building blocks for the inline SVG plots of `tunectl report`: HTML escaping, numeric
// and categorical axes (linear or log) with readable ticks, and the colour scale. Pure
// functions and value types, no I/O.
#ifndef TUNER_TUNECTL_SVG_H_
#define TUNER_TUNECTL_SVG_H_

#include <string>
#include <string_view>
#include <vector>

namespace tuner::tunectl::svg {

// Escapes & < > " ' so any text is safe both between tags and inside a quoted attribute.
std::string Escape(std::string_view text);

// A coordinate for an SVG attribute: one decimal, no trailing ".0" ("12.5", "40").
std::string Coord(double value);

// One numeric axis: maps data values in [lo, hi] onto pixels [px_lo, px_hi] (px_hi may be
// smaller than px_lo: a vertical axis grows upwards). Log axes need lo > 0. Value type.
struct Axis {
  double lo = 0;
  double hi = 1;
  bool log = false;
  double px_lo = 0;
  double px_hi = 1;
  std::vector<double> ticks;  // where to draw ticks; Ticks() fills it when left empty
  // One label per entry of `ticks` (a categorical axis: the choice values); when the sizes
  // differ, AxesSvg writes Label(tick).
  std::vector<std::string> tick_labels;

  // Pixel of a value; values outside [lo, hi] are clamped to the ends.
  double Map(double value) const;
  // ticks when set, else "nice" ones: 1/2/5 x 10^k steps (linear) or powers of ten, with
  // 2 and 5 between them when the range spans less than two decades (log).
  std::vector<double> Ticks() const;
  // A tick label: as few digits as tell the ticks apart ("0.25", "1e-04", "300").
  std::string Label(double value) const;
};

// An axis over the data's [min, max]: linear ranges widen to whole tick steps and a range of
// one value gets some room; log ranges keep their ends (all values must be > 0).
Axis FitAxis(double min, double max, bool log, double px_lo, double px_hi);

// Perceptually ordered colour for t in [0, 1] (viridis: dark purple 0 -> yellow 1) as "#rrggbb".
std::string Viridis(double t);

// A plot area inside an SVG: the axes are drawn on its left and bottom edges.
struct Frame {
  double left = 70;
  double top = 20;
  double width = 900;
  double height = 320;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

// Grid lines, tick marks, tick labels and axis titles for x along the frame's bottom and y
// along its left edge (both axes must map onto the frame).
std::string AxesSvg(const Frame& frame, const Axis& x, const Axis& y, const std::string& x_title,
                    const std::string& y_title);

// <text> with escaped content; anchor is start, middle or end; cls may be empty.
std::string Text(double x, double y, const std::string& text, const char* anchor = "start",
                 const std::string& cls = "");

}  // namespace tuner::tunectl::svg

#endif  // TUNER_TUNECTL_SVG_H_
