// The Hyperband brackets section of `tunectl report`.
#include <algorithm>
#include <map>
#include <set>

#include "search/asha.h"
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
  // Random and grid studies have no brackets: no section at all.
  if (!data.hyperband) return "";
  const bool asha = data.spec ? data.spec->algorithm == search::Algorithm::kAsha
                              : data.study.algorithm() == "asha";
  std::string out = std::string("<section id=\"brackets\"><h2>") +
                    (asha ? "ASHA brackets and rungs" : "Hyperband brackets") + "</h2>";
  // Per bracket: the rungs' planned configurations (Hyperband only; ASHA promotes as values
  // come, so how many reach a rung is not planned) and epochs.
  struct Shape {
    int s = 0;
    std::vector<int> trials;  // empty for ASHA
    std::vector<int> epochs;
  };
  std::vector<Shape> schedule;
  int iterations = 1;
  if (data.spec && asha) {
    const search::AshaSpec& a = data.spec->asha;
    for (int b = 0; b < a.brackets; ++b) {
      schedule.push_back({b, {}, search::AshaRungEpochs(a.min_epochs, a.max_epochs, a.eta, b)});
    }
  } else if (data.spec) {
    for (const search::BracketSchedule& b :
         search::HyperbandSchedule(data.spec->hyperband.max_epochs, data.spec->hyperband.eta)) {
      schedule.push_back({b.s, b.trials, b.epochs});
    }
    iterations = data.spec->hyperband.iterations;
  }
  std::map<int, std::vector<RungStats>> brackets;
  auto rungs_of = [&](int bracket) -> std::vector<RungStats>& {
    std::vector<RungStats>& rungs = brackets[bracket];
    if (rungs.empty() && !schedule.empty()) {
      const Shape& shape = schedule[bracket % schedule.size()];
      for (size_t i = 0; i < shape.epochs.size(); ++i) {
        RungStats r;
        r.planned = i < shape.trials.size() ? shape.trials[i] : -1;
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
    // Without the spec's schedule, rung 0 plans the configurations the bracket started with.
    if (!rungs.empty() && rungs[0].planned < 0 && !asha && p.trials() > 0) {
      rungs[0].planned = p.trials();
    }
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
      // ASHA: the share of the bracket's configurations that got this far.
      const int base = rungs.empty() ? 0 : rungs[0].reached;
      const double filled =
          r.planned > 0 ? std::min(1.0, static_cast<double>(r.reached) / r.planned)
          : base > 0    ? static_cast<double>(r.reached) / base
                        : 0.0;
      const std::string epochs = r.epochs > 0 ? std::to_string(r.epochs) : "?";
      const std::string planned = r.planned >= 0 ? std::to_string(r.planned) : "?";
      std::string detail = "reached " + std::to_string(r.reached) +
                           (r.planned >= 0 ? "/" + planned : std::string());
      if (r.pruned > 0) detail += ", pruned " + std::to_string(r.pruned);
      if (r.completed > 0) detail += ", done " + std::to_string(r.completed);
      if (r.failed > 0) detail += ", failed " + std::to_string(r.failed);
      if (r.active > 0) detail += ", active " + std::to_string(r.active);
      out += "<g class=\"rung-cell\"><title>bracket " + std::to_string(b) + " rung " +
             std::to_string(i) + ": " +
             (r.planned >= 0 ? planned + " configurations planned" : std::string("trains")) +
             " to " + epochs + " epochs; " + Escape(detail) + "</title>";
      out += "<rect class=\"rung-fill\" x=\"" + Coord(x) + "\" y=\"" + Coord(y) + "\" width=\"" +
             Coord(cell * filled) + "\" height=\"" + Coord(h) + "\"/>";
      out += "<rect class=\"rung\" x=\"" + Coord(x) + "\" y=\"" + Coord(y) + "\" width=\"" +
             Coord(cell) + "\" height=\"" + Coord(h) + "\" rx=\"4\"/>";
      const std::string at = r.epochs == 1 ? "1 epoch" : epochs + " epochs";
      out += svg::Text(x + 8, y + 18,
                       r.planned >= 0 ? Plural(r.planned, "trial") + " @ " + at
                                      : Plural(r.reached, "trial") + " reached " + at,
                       "start", "cell-main");
      out += svg::Text(x + 8, y + 35, detail, "start", "tick");
      out += "</g>";
    }
    y += kRow;
  }
  out += "</svg><p class=\"caption\">";
  if (data.spec && asha) {
    const search::AshaSpec& a = data.spec->asha;
    out += "r = " + std::to_string(a.min_epochs) + ", R = " + std::to_string(a.max_epochs) +
           " epochs, eta = " + std::to_string(a.eta) + ", " + Plural(a.brackets, "bracket") +
           ". Each cell: the trials that reached the rung and the epochs it trains them to; the "
           "shading is their share of the bracket's configurations. A trial is promoted as soon "
           "as it ranks in the top 1/eta of the trials that finished its rung.</p>";
  } else {
    if (data.spec) {
      out += "R = " + std::to_string(data.spec->hyperband.max_epochs) +
             " epochs, eta = " + std::to_string(data.spec->hyperband.eta) + ", " +
             Plural(iterations, "iteration") + ". ";
    }
    out += "Each cell: configurations the rung keeps and the epochs each trains to; the "
           "shading is the share that reached it. The best 1/eta of a rung are promoted to the "
           "next one, the others pruned.</p>";
  }
  return out + "</section>";
}

}  // namespace tuner::tunectl::report
