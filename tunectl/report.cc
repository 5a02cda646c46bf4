#include "tunectl/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "search/study_spec.h"
#include "tunectl/format.h"
#include "tunectl/report_sections.h"
#include "tunectl/study_view.h"
#include "tunectl/svg.h"

namespace tuner::tunectl {
namespace {

using svg::Escape;

// Everything the page needs to look right offline: no fonts, images or scripts are fetched.
constexpr const char* kCss = R"css(
body{margin:0;background:#f3f4f6;color:#111827;font:14px/1.45 "DejaVu Sans",system-ui,sans-serif}
main{max-width:1140px;margin:0 auto;padding:18px 20px 40px}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:0 0 8px}
section,header{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 16px;margin:0 0 16px}
.sub{color:#4b5563;margin:0 0 10px}
.facts{display:grid;grid-template-columns:repeat(4,1fr);gap:8px 16px;margin:0}
.facts div{background:#f9fafb;border-radius:6px;padding:6px 10px}
.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#6b7280}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.facts .wide{grid-column:span 4}
.chip{display:inline-block;background:#eef2ff;border-radius:4px;padding:0 6px;margin:2px 4px 2px 0;font-weight:500}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;background:#e5e7eb}
.COMPLETED{background:#dbeafe;color:#1e40af}.PRUNED{background:#ffedd5;color:#9a3412}
.FAILED{background:#fee2e2;color:#991b1b}.STOPPED{background:#e5e7eb;color:#374151}
.RUNNING,.PENDING,.PAUSED{background:#dcfce7;color:#166534}
svg.plot{display:block;width:100%;height:auto;font-size:12px}
svg text{fill:#1f2937}
.grid{stroke:#eef0f3}.axis{stroke:#6b7280;stroke-width:1}.tickmark{stroke:#6b7280}
text.tick{font-size:11px;fill:#4b5563}text.title{font-size:12.5px;font-weight:700}
.halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.pt.completed{fill:#2563eb;fill-opacity:.85}
.pt.stopped-early{fill:#fff;stroke:#f97316;stroke-width:1.5}
.best-line{fill:none;stroke:#dc2626;stroke-width:2.2}
.curve{fill:none;stroke-width:1.4;stroke-linecap:round;stroke-linejoin:round}
.curve.completed{stroke:#2563eb;stroke-opacity:.75}
.curve.pruned{stroke:#f97316;stroke-opacity:.6;stroke-dasharray:6 3}
.curve.failed{stroke:#dc2626;stroke-width:1.8;stroke-dasharray:2 3}
.curve.stopped{stroke:#6b7280;stroke-dasharray:8 3 2 3}
.curve.active{stroke:#16a34a}
.curve.best{stroke:#111827;stroke-width:3;stroke-opacity:1;stroke-dasharray:none}
.curve.dot{stroke-width:6;stroke-dasharray:none}
.pc-line{fill:none;stroke-width:1.8;stroke-opacity:.9}
.pc-line.pc-early{stroke:#9ca3af;stroke-opacity:.35;stroke-width:1}
polyline.curve:hover,.pc-line:hover{stroke-width:4;stroke-opacity:1}
.importance-bar{fill:#2563eb;fill-opacity:.8}
.slice-pt{stroke:#1f2937;stroke-width:.5;fill-opacity:.9}.contour-pt{fill:#fff;stroke:#111827;stroke-width:1.2}
.edf-line{fill:none;stroke:#2563eb;stroke-width:2}
.pt.stopped{fill:#fff;stroke:#6b7280;stroke-width:1.5}
.rung{fill:none;stroke:#6b7280}.rung-fill{fill:#bfdbfe}text.cell-main{font-size:12.5px;font-weight:700}
.caption,.note,.empty{color:#4b5563;font-size:13px;margin:6px 0 0}
.empty{font-style:italic;padding:18px 0}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{padding:3px 8px;border-bottom:1px solid #eef0f3;text-align:left;white-space:nowrap}
th{background:#f9fafb;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.reason{white-space:normal;color:#991b1b}
tr.best td{background:#fef9c3}
pre{background:#f9fafb;padding:10px;overflow:auto;font-size:12px}
)css";

std::string Cell(const std::string& text, const char* cls = nullptr) {
  return std::string("<td") + (cls ? std::string(" class=\"") + cls + "\"" : "") + ">" +
         Escape(text) + "</td>";
}

std::string Fact(const std::string& term, const std::string& html, bool wide = false) {
  return std::string("<div") + (wide ? " class=\"wide\"" : "") + "><dt>" + Escape(term) +
         "</dt><dd>" + html + "</dd></div>";
}

// The param names: the spec's order when it parses, else sorted.
std::vector<std::string> ParamNames(const report::ReportData& data) {
  std::vector<std::string> names;
  if (data.spec) {
    for (const search::ParamSpec& p : data.spec->space.params) names.push_back(p.name);
    return names;
  }
  std::set<std::string> sorted;
  for (const v1::Trial& t : data.trials) {
    for (const auto& [name, value] : t.params()) sorted.insert(name);
  }
  return {sorted.begin(), sorted.end()};
}

std::string Header(const report::ReportData& data) {
  const v1::Study& study = data.study;
  std::map<v1::TrialState, int> counts;
  for (const v1::Trial& t : data.trials) counts[t.state()]++;
  std::string out = "<header><h1>Study report: " + Escape(study.name()) + "</h1>";
  out += "<p class=\"sub\">study " + std::to_string(study.study_id()) + " &middot; " +
         Escape(AlgorithmLabel(study)) + " &middot; " +
         (data.maximize ? "maximize " : "minimize ") + Escape(study.objective_metric()) +
         " &middot; made by tunectl report from GetStudy and ListTrials</p><dl class=\"facts\">";
  out += Fact("state", Escape(StudyStateLabel(study.state())));
  out += Fact("algorithm", Escape(AlgorithmLabel(study)));
  std::string trials = std::to_string(data.trials.size());
  if (study.planned_trials() > 0) trials += " of " + std::to_string(study.planned_trials()) + " planned";
  out += Fact("trials", trials);
  out += Fact("created", Escape(FormatTimestamp(study.created_at())) +
                             (study.finished_at() > 0
                                  ? "<br>finished " + Escape(FormatTimestamp(study.finished_at()))
                                  : std::string()));
  std::string by_state;
  for (const auto& [state, n] : counts) {
    const std::string name = TrialStateName(state);
    by_state += "<span class=\"badge " + Escape(name) + "\">" + Escape(name) + " " +
                std::to_string(n) + "</span> ";
  }
  out += Fact("trials by state", by_state.empty() ? "none yet" : by_state, true);
  if (study.has_best()) {
    const v1::Trial& best = study.best_trial();
    out += Fact("best " + study.objective_metric(),
                Escape(FormatValue(best.value())) + " &nbsp;(trial " +
                    std::to_string(best.trial_id()) + ", number " +
                    std::to_string(best.number()) + ")");
    std::string params;
    for (const std::string& name : ParamNames(data)) {
      const auto it = best.params().find(name);
      if (it == best.params().end()) continue;
      params += "<span class=\"chip\">" + Escape(name) + " = " + Escape(FormatParam(it->second)) +
                "</span>";
    }
    out += "<div style=\"grid-column:span 3\"><dt>best params</dt><dd>" + params + "</dd></div>";
  } else {
    out += Fact("best", "no completed trial yet", true);
  }
  return out + "</dl></header>";
}

std::string TrialsTable(const report::ReportData& data) {
  std::string out = "<section id=\"trials\"><h2>Trials</h2>";
  if (data.trials.empty()) {
    return out + "<p class=\"empty\">The study has no trials yet.</p></section>";
  }
  const std::vector<std::string> names = ParamNames(data);
  const bool reasons = std::any_of(data.trials.begin(), data.trials.end(),
                                   [](const v1::Trial& t) { return !t.fail_reason().empty(); });
  const int64_t best_id = data.study.has_best() ? data.study.best_trial().trial_id() : -1;
  out += "<table><thead><tr><th>number</th><th>id</th><th>state</th><th>value</th>"
         "<th>epochs</th>";
  if (data.hyperband) out += "<th>bracket</th><th>rung</th>";
  out += "<th>attempt</th><th>worker</th>";
  for (const std::string& name : names) out += "<th>" + Escape(name) + "</th>";
  if (reasons) out += "<th>fail reason</th>";
  out += "</tr></thead><tbody>";
  for (const v1::Trial& t : data.trials) {
    const std::string state = TrialStateName(t.state());
    out += t.trial_id() == best_id ? "<tr class=\"best\">" : "<tr>";
    out += Cell(std::to_string(t.number()), "num") + Cell(std::to_string(t.trial_id()), "num");
    out += "<td><span class=\"badge " + Escape(state) + "\">" + Escape(state) + "</span></td>";
    out += Cell(t.has_value() ? FormatValue(t.value()) : "-", "num");
    out += Cell(std::to_string(t.epochs_done()) + "/" + std::to_string(t.budget_epochs()), "num");
    if (data.hyperband) {
      out += Cell(std::to_string(t.bracket()), "num") + Cell(std::to_string(t.rung()), "num");
    }
    out += Cell(std::to_string(t.attempt()), "num") + Cell(t.worker_name());
    for (const std::string& name : names) {
      const auto it = t.params().find(name);
      out += Cell(it == t.params().end() ? "" : FormatParam(it->second));
    }
    if (reasons) out += Cell(t.fail_reason(), "reason");
    out += "</tr>";
  }
  return out + "</tbody></table></section>";
}

}  // namespace

std::string StudyReportHtml(const v1::Study& study, const std::vector<v1::Trial>& trials,
                            const std::vector<v1::Ensemble>& ensembles) {
  report::ReportData data;
  data.study = study;
  data.trials = trials;
  data.ensembles = ensembles;
  std::stable_sort(data.trials.begin(), data.trials.end(),
                   [](const v1::Trial& a, const v1::Trial& b) { return a.number() < b.number(); });
  if (!study.spec_yaml().empty()) {
    absl::StatusOr<search::StudySpec> spec = search::ParseStudySpec(study.spec_yaml());
    if (spec.ok()) data.spec = std::move(*spec);
  }
  if (data.spec) {  // the importance section and the contour's choice of params
    data.importances = ParamImportances(data.trials, data.spec->space.params);
  }
  data.maximize = study.direction() == v1::MINIMIZE   ? false
                  : study.direction() == v1::MAXIMIZE ? true
                  : data.spec                         ? data.spec->maximize
                                                      : true;
  data.hyperband = study.algorithm() == "hyperband" || study.algorithm() == "asha" ||
                   study.brackets_size() > 0;

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">";
  html += "<title>tuner study " + std::to_string(study.study_id()) + ": " + Escape(study.name()) +
          "</title><style>" + std::string(kCss) + "</style></head><body><main>";
  html += Header(data);
  html += report::HistorySection(data);
  html += report::CurvesSection(data);
  html += report::ParallelSection(data);
  html += report::ImportanceSection(data);
  html += report::SliceSection(data);
  html += report::ContourSection(data);
  html += report::EdfSection(data);
  html += report::HyperbandSection(data);
  html += report::EnsembleSection(data);
  html += TrialsTable(data);
  if (!study.spec_yaml().empty()) {
    html += "<section id=\"spec\"><details><summary>Spec (YAML)</summary><pre>" +
            Escape(study.spec_yaml()) + "</pre></details></section>";
  }
  html += "</main></body></html>\n";
  return html;
}

}  // namespace tuner::tunectl
