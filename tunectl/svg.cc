#include "tunectl/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tuner::tunectl::svg {
namespace {

// The tick step of a linear range: 1, 2 or 5 times a power of ten, about five ticks.
double NiceStep(double span) {
  if (!(span > 0) || !std::isfinite(span)) return 1;
  const double raw = span / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double nice = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return nice * magnitude;
}

double Clamp01(double t) { return std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0; }

}  // namespace

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Coord(double value) {
  if (!std::isfinite(value)) return "0";
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", value);
  std::string out = text;
  if (out.size() > 2 && out.compare(out.size() - 2, 2, ".0") == 0) out.resize(out.size() - 2);
  if (out == "-0") out = "0";
  return out;
}

double Axis::Map(double value) const {
  double t;
  if (log) {
    const double a = std::log10(lo), b = std::log10(hi);
    t = b > a ? (std::log10(std::max(value, lo)) - a) / (b - a) : 0.5;
  } else {
    t = hi > lo ? (value - lo) / (hi - lo) : 0.5;
  }
  return px_lo + Clamp01(t) * (px_hi - px_lo);
}

std::vector<double> Axis::Ticks() const {
  if (!ticks.empty()) return ticks;
  std::vector<double> out;
  if (log) {
    const int first = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
    const int last = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
    const bool dense = last - first < 2;
    for (int k = first; k <= last; ++k) {
      for (double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && !dense) continue;
        const double v = m * std::pow(10.0, k);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
      }
    }
    if (out.size() < 2) out = {lo, hi};
    return out;
  }
  const double step = NiceStep(hi - lo);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
    if (out.size() > 50) break;
  }
  return out;
}

std::string Axis::Label(double value) const {
  char text[32];
  if (log) {
    std::snprintf(text, sizeof(text), "%g", value);
    return text;
  }
  const std::vector<double> all = Ticks();
  double step = all.size() >= 2 ? std::fabs(all[1] - all[0]) : NiceStep(hi - lo);
  if (!(step > 0)) step = 1;
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 8);
  if (std::fabs(value) >= 1e6 || (value != 0 && std::fabs(value) < 1e-4)) {
    std::snprintf(text, sizeof(text), "%.3g", value);
  } else {
    std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  }
  return text;
}

Axis FitAxis(double min, double max, bool log, double px_lo, double px_hi) {
  Axis axis;
  axis.log = log;
  axis.px_lo = px_lo;
  axis.px_hi = px_hi;
  if (!std::isfinite(min) || !std::isfinite(max)) min = 0, max = 1;
  if (log) {
    if (min <= 0) min = max > 0 ? max / 10 : 1;
    if (max <= min) max = min * 10, min = min / 10;
    axis.lo = min;
    axis.hi = max;
    return axis;
  }
  if (max <= min) {
    const double room = std::fabs(min) > 0 ? std::fabs(min) * 0.1 : 1;
    min -= room;
    max += room;
  }
  const double step = NiceStep(max - min);
  axis.lo = std::floor(min / step + 1e-9) * step;
  axis.hi = std::ceil(max / step - 1e-9) * step;
  if (axis.hi <= axis.lo) axis.hi = axis.lo + step;
  return axis;
}

std::string Viridis(double t) {
  // Five stops of matplotlib's viridis, linearly interpolated.
  static constexpr int kStops[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  const double x = Clamp01(t) * 4;
  const int i = std::min(static_cast<int>(x), 3);
  const double f = x - i;
  char text[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c) {
    rgb[c] = static_cast<int>(std::lround(kStops[i][c] + f * (kStops[i + 1][c] - kStops[i][c])));
  }
  std::snprintf(text, sizeof(text), "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return text;
}

std::string Text(double x, double y, const std::string& text, const char* anchor,
                 const std::string& cls) {
  std::string out = "<text x=\"" + Coord(x) + "\" y=\"" + Coord(y) + "\"";
  if (std::string(anchor) != "start") out += " text-anchor=\"" + std::string(anchor) + "\"";
  if (!cls.empty()) out += " class=\"" + cls + "\"";
  return out + ">" + Escape(text) + "</text>";
}

std::string AxesSvg(const Frame& frame, const Axis& x, const Axis& y, const std::string& x_title,
                    const std::string& y_title) {
  std::string out = "<g class=\"axes\">";
  for (double v : y.Ticks()) {
    const std::string py = Coord(y.Map(v));
    out += "<line class=\"grid\" x1=\"" + Coord(frame.left) + "\" x2=\"" + Coord(frame.right()) +
           "\" y1=\"" + py + "\" y2=\"" + py + "\"/>";
    out += Text(frame.left - 6, y.Map(v) + 4, y.Label(v), "end", "tick");
  }
  const std::vector<double> x_ticks = x.Ticks();
  const bool named = x.tick_labels.size() == x_ticks.size();
  for (size_t i = 0; i < x_ticks.size(); ++i) {
    const double v = x_ticks[i];
    const std::string px = Coord(x.Map(v));
    out += "<line class=\"grid\" x1=\"" + px + "\" x2=\"" + px + "\" y1=\"" + Coord(frame.top) +
           "\" y2=\"" + Coord(frame.bottom()) + "\"/>";
    out += Text(x.Map(v), frame.bottom() + 16, named ? x.tick_labels[i] : x.Label(v), "middle",
                "tick");
  }
  out += "<line class=\"axis\" x1=\"" + Coord(frame.left) + "\" x2=\"" + Coord(frame.right()) +
         "\" y1=\"" + Coord(frame.bottom()) + "\" y2=\"" + Coord(frame.bottom()) + "\"/>";
  out += "<line class=\"axis\" x1=\"" + Coord(frame.left) + "\" x2=\"" + Coord(frame.left) +
         "\" y1=\"" + Coord(frame.top) + "\" y2=\"" + Coord(frame.bottom()) + "\"/>";
  out += Text(frame.left + frame.width / 2, frame.bottom() + 36, x_title, "middle", "title");
  const double ty = frame.top + frame.height / 2;
  out += "<text class=\"title\" text-anchor=\"middle\" transform=\"translate(" +
         Coord(frame.left - 52) + "," + Coord(ty) + ") rotate(-90)\">" + Escape(y_title) +
         "</text>";
  return out + "</g>";
}

}  // namespace tuner::tunectl::svg
