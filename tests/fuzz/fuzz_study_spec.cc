// fuzz_study_spec: ParseStudySpec on arbitrary bytes. A spec it accepts must also build a
// policy, and that policy must plan the first trials of an empty history without crashing.
// Built as a libFuzzer target (tests/fuzz/CMakeLists.txt, clang) and as a plain regression
// runner with regression_main.cc (tests/fuzz/ctest.cmake, any compiler).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "search/policy.h"
#include "search/study_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tuner::search::StudySpec> spec = tuner::search::ParseStudySpec(text);
  if (!spec.ok()) return 0;
  absl::StatusOr<std::unique_ptr<tuner::search::SearchPolicy>> policy =
      tuner::search::MakePolicy(*spec);
  if (!policy.ok()) return 0;
  (void)(*policy)->PlannedTrials();
  const std::vector<tuner::search::TrialRecord> history;
  tuner::search::Plan plan = (*policy)->Next(history, /*max_new=*/8);
  // What the scheduler does with the first plan: records the new trials, asks MayPromote.
  std::vector<tuner::search::TrialRecord> next;
  for (const tuner::search::NewTrial& trial : plan.new_trials) {
    tuner::search::TrialRecord record;
    record.number = static_cast<int64_t>(next.size());
    record.params = trial.params;
    record.bracket = trial.bracket;
    record.rung = trial.rung;
    record.budget_epochs = trial.budget_epochs;
    (void)(*policy)->MayPromote(record);
    next.push_back(std::move(record));
  }
  (void)(*policy)->Next(next, /*max_new=*/1);
  return 0;
}
