// The Hyperband brackets section of `tunectl report`.
#include <algorithm>
#include <map>
#include <set>

#include "search/hyperband.h"
#include "tunectl/report_sections.h"
#include "tunectl/svg.h"

namespace tuner::tunectl::report {
namespace {

using svg::Coord;
using svg::Escape;

// What happened at one rung of one bracket.
struct RungStats {
  int planned = -1;  // from the spec's schedule; -1 when unknown
  int epochs = 0;    // epochs a trial trains to in this rung; 0 when unknown
  int reached = 0;   // trials that got to this rung
  int completed = 0, pruned = 0, failed = 0, active = 0;  // trials that are at this rung now
};

std::string Plural(int n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

std::string HyperbandSection(const ReportData& data) {
  std::string out = "<section id=\"brackets\"><h2>Hyperband brackets</h2>";
  if (!data.hyperband) {
    return out + "<p class=\"note\">Not a Hyperband study (algorithm " +
           Escape(data.study.algorithm().empty() ? "unknown" : data.study.algorithm()) +
           "): no brackets or rungs to show.</p></section>";
  }
  std::vector<search::BracketSchedule> schedule;
  int iterations = 1;
  if (data.spec) {
    schedule = search::HyperbandSchedule(data.spec->hyperband.max_epochs, data.spec->hyperband.eta);
    iterations = data.spec->hyperband.iterations;
  }
  std::map<int, std::vector<RungStats>> brackets;
  auto rungs_of = [&](int bracket) -> std::vector<RungStats>& {
    std::vector<RungStats>& rungs = brackets[bracket];
    if (rungs.empty() && !schedule.empty()) {
      const search::BracketSchedule& shape = schedule[bracket % schedule.size()];
      for (size_t i = 0; i < shape.trials.size(); ++i) {
        RungStats r;
        r.planned = shape.trials[i];
        r.epochs = shape.epochs[i];
        rungs.push_back(r);
      }
    }
    return rungs;
  };
  for (int b = 0; b < static_cast<int>(schedule.size()) * iterations; ++b) rungs_of(b);
  for (const v1::BracketProgress& p : data.study.brackets()) {
    std::vector<RungStats>& rungs = rungs_of(p.bracket());
    if (static_cast<int>(rungs.size()) < p.rungs()) rungs.resize(p.rungs());
  }
  for (const v1::Trial& t : data.trials) {
    if (t.bracket() < 0) continue;
    std::vector<RungStats>& rungs = rungs_of(t.bracket());
    const int rung = std::max(0, t.rung());
    if (static_cast<int>(rungs.size()) <= rung) rungs.resize(rung + 1);
    for (int i = 0; i <= rung; ++i) rungs[i].reached++;
    RungStats& here = rungs[rung];
    if (schedule.empty()) here.epochs = std::max(here.epochs, t.budget_epochs());
    switch (t.state()) {
      case v1::COMPLETED: here.completed++; break;
      case v1::PRUNED: here.pruned++; break;
      case v1::FAILED:
      case v1::STOPPED: here.failed++; break;
      default: here.active++; break;
    }
  }
  if (brackets.empty()) {
    return out + "<p class=\"empty\">No bracket has started yet.</p></section>";
  }
  size_t max_rungs = 1;
  for (const auto& [b, rungs] : brackets) max_rungs = std::max(max_rungs, rungs.size());

  constexpr double kLabel = 120, kRow = 54, kHead = 28, kGap = 10;
  const double cell = (1090 - kLabel) / static_cast<double>(max_rungs) - kGap;
  const double height = kHead + kRow * static_cast<double>(brackets.size()) + 6;
  out += "<svg class=\"plot\" viewBox=\"0 0 1100 " + Coord(height) + "\" width=\"1100\" height=\"" +
         Coord(height) + "\" role=\"img\" aria-label=\"hyperband brackets\">";
  for (size_t i = 0; i < max_rungs; ++i) {
    out += svg::Text(kLabel + i * (cell + kGap) + cell / 2, 18, "rung " + std::to_string(i),
                     "middle", "title");
  }
  double y = kHead;
  for (const auto& [b, rungs] : brackets) {
    out += svg::Text(10, y + 22, "bracket " + std::to_string(b), "start", "title");
    if (!schedule.empty()) {
      out += svg::Text(10, y + 38, "s = " + std::to_string(schedule[b % schedule.size()].s),
                       "start", "tick");
    }
    for (size_t i = 0; i < rungs.size(); ++i) {
      const RungStats& r = rungs[i];
      const double x = kLabel + i * (cell + kGap);
      const double h = kRow - 10;
      const double filled =
          r.planned > 0 ? std::min(1.0, static_cast<double>(r.reached) / r.planned)
                        : (r.reached > 0 ? 1.0 : 0.0);
      const std::string epochs = r.epochs > 0 ? std::to_string(r.epochs) : "?";
      const std::string planned = r.planned >= 0 ? std::to_string(r.planned) : "?";
      std::string detail = "reached " + std::to_string(r.reached) + "/" + planned;
      if (r.pruned > 0) detail += ", pruned " + std::to_string(r.pruned);
      if (r.completed > 0) detail += ", done " + std::to_string(r.completed);
      if (r.failed > 0) detail += ", failed " + std::to_string(r.failed);
      if (r.active > 0) detail += ", active " + std::to_string(r.active);
      out += "<g class=\"rung-cell\"><title>bracket " + std::to_string(b) + " rung " +
             std::to_string(i) + ": " + planned + " configurations planned at " + epochs +
             " epochs; " + Escape(detail) + "</title>";
      out += "<rect class=\"rung-fill\" x=\"" + Coord(x) + "\" y=\"" + Coord(y) + "\" width=\"" +
             Coord(cell * filled) + "\" height=\"" + Coord(h) + "\"/>";
      out += "<rect class=\"rung\" x=\"" + Coord(x) + "\" y=\"" + Coord(y) + "\" width=\"" +
             Coord(cell) + "\" height=\"" + Coord(h) + "\" rx=\"4\"/>";
      out += svg::Text(x + 8, y + 18,
                       (r.planned >= 0 ? Plural(r.planned, "trial") : std::string("? trials")) +
                           " @ " + (r.epochs == 1 ? "1 epoch" : epochs + " epochs"),
                       "start", "cell-main");
      out += svg::Text(x + 8, y + 35, detail, "start", "tick");
      out += "</g>";
    }
    y += kRow;
  }
  out += "</svg><p class=\"caption\">";
  if (data.spec) {
    out += "R = " + std::to_string(data.spec->hyperband.max_epochs) +
           " epochs, eta = " + std::to_string(data.spec->hyperband.eta) + ", " +
           Plural(iterations, "iteration") + ". ";
  }
  out += "Each cell: configurations the rung keeps and the epochs each trains to; the shading "
         "is the share that reached it. The best 1/eta of a rung are promoted to the next one, "
         "the others pruned.</p>";
  return out + "</section>";
}

}  // namespace tuner::tunectl::report
