// The Ensemble section of `tunectl report`: the newest COMPLETED top-k ensemble's test
// accuracy beside each member's, so the gain of averaging is read at a glance.
#include <algorithm>
#include <cstdio>

#include "tunectl/format.h"
#include "tunectl/report_sections.h"
#include "tunectl/svg.h"

namespace tuner::tunectl::report {
namespace {

using svg::Escape;

std::string NumCell(const std::string& text) {
  return "<td class=\"num\">" + Escape(text) + "</td>";
}

}  // namespace

std::string EnsembleSection(const ReportData& data) {
  const v1::Ensemble* latest = nullptr;
  for (const v1::Ensemble& ensemble : data.ensembles) {
    if (ensemble.state() == v1::ENSEMBLE_COMPLETED && ensemble.has_test_accuracy()) {
      latest = &ensemble;
    }
  }
  if (latest == nullptr) return "";
  double best = -1;
  for (const v1::EnsembleMember& member : latest->members()) {
    if (member.has_test_accuracy()) best = std::max(best, member.test_accuracy());
  }
  std::string html = "<section id=\"ensemble\"><h2>Ensemble</h2><p class=\"sub\">Averaged softmax "
                     "of the " + std::to_string(latest->k()) + " best trials (ensemble " +
                     std::to_string(latest->ensemble_id()) + "), on " +
                     std::to_string(latest->test_images()) + " held-out test images: test "
                     "accuracy <b>" + FormatValue(latest->test_accuracy()) + "</b>";
  if (best >= 0) {
    char gain[32];
    std::snprintf(gain, sizeof(gain), "%+.4f", latest->test_accuracy() - best);
    html += " vs " + FormatValue(best) + " for its best member (" + gain + ")";
  }
  html += ".</p><table><thead><tr><th>member</th><th>trial</th><th>number</th><th>value "
          "(validation)</th><th>test accuracy</th><th>params</th></tr></thead><tbody>";
  html += "<tr class=\"best\"><td>ensemble</td><td></td><td></td><td></td>" +
          NumCell(FormatValue(latest->test_accuracy())) + "<td></td></tr>";
  int rank = 0;
  for (const v1::EnsembleMember& member : latest->members()) {
    html += "<tr><td>" + std::to_string(++rank) + "</td>" +
            NumCell(std::to_string(member.trial_id())) +
            NumCell(std::to_string(member.trial_number())) + NumCell(FormatValue(member.value())) +
            NumCell(member.has_test_accuracy() ? FormatValue(member.test_accuracy()) : "-") +
            "<td>" + Escape(FormatParams(member.params())) + "</td></tr>";
  }
  return html + "</tbody></table></section>";
}

}  // namespace tuner::tunectl::report
