#include "tunectl/ensemble_view.h"

#include <algorithm>
#include <cstdio>

#include "tunectl/format.h"

namespace tuner::tunectl {

std::string EnsembleStateLabel(v1::EnsembleState state) {
  const std::string name = v1::EnsembleState_Name(state);
  const std::string prefix = "ENSEMBLE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string EnsembleLine(const v1::Ensemble& ensemble) {
  std::string line = "ensemble " + std::to_string(ensemble.ensemble_id()) + " (top " +
                     std::to_string(ensemble.k()) + " trial" + (ensemble.k() == 1 ? "" : "s") +
                     "): ";
  if (ensemble.state() != v1::ENSEMBLE_COMPLETED || !ensemble.has_test_accuracy()) {
    line += EnsembleStateLabel(ensemble.state());
    if (ensemble.state() == v1::ENSEMBLE_FAILED && !ensemble.fail_reason().empty()) {
      line += ": " + ensemble.fail_reason();
    }
    return line;
  }
  line += "test accuracy " + FormatValue(ensemble.test_accuracy()) + " on " +
          std::to_string(ensemble.test_images()) + " test images";
  bool any = false;
  double best = 0;
  for (const v1::EnsembleMember& member : ensemble.members()) {
    if (!member.has_test_accuracy()) continue;
    best = any ? std::max(best, member.test_accuracy()) : member.test_accuracy();
    any = true;
  }
  if (any) {
    char gain[32];
    std::snprintf(gain, sizeof(gain), "%+.4f", ensemble.test_accuracy() - best);
    line += ", best member " + FormatValue(best) + " (" + gain + ")";
  }
  return line;
}

std::string EnsembleText(const v1::Ensemble& ensemble) {
  std::string text = EnsembleLine(ensemble) + "\n";
  Table table({"TRIAL", "NUMBER", "VALUE", "TEST_ACCURACY", "PARAMS"});
  for (size_t column = 0; column < 4; ++column) table.SetAlign(column, Table::Align::kRight);
  for (const v1::EnsembleMember& member : ensemble.members()) {
    table.AddRow({std::to_string(member.trial_id()), std::to_string(member.trial_number()),
                  FormatValue(member.value()),
                  member.has_test_accuracy() ? FormatValue(member.test_accuracy()) : "-",
                  FormatParams(member.params())});
  }
  return text + table.Render();
}

Json EnsembleJson(const v1::Ensemble& ensemble) {
  Json members = Json::array();
  for (const v1::EnsembleMember& member : ensemble.members()) {
    members.push_back(Json{
        {"trial_id", member.trial_id()},
        {"number", member.trial_number()},
        {"value", member.value()},
        {"test_accuracy", member.has_test_accuracy() ? Json(member.test_accuracy()) : Json()},
        {"checkpoint_id", member.checkpoint_id()},
        {"params", ParamsJson(member.params())}});
  }
  return Json{
      {"ensemble_id", ensemble.ensemble_id()},
      {"study_id", ensemble.study_id()},
      {"k", ensemble.k()},
      {"state", v1::EnsembleState_Name(ensemble.state())},
      {"test_accuracy", ensemble.has_test_accuracy() ? Json(ensemble.test_accuracy()) : Json()},
      {"test_images", ensemble.test_images()},
      {"members", std::move(members)},
      {"attempt", ensemble.attempt()},
      {"worker_name", ensemble.worker_name()},
      {"fail_reason", ensemble.fail_reason()},
      {"created_at", ensemble.created_at()},
      {"finished_at", ensemble.finished_at()}};
}

}  // namespace tuner::tunectl
