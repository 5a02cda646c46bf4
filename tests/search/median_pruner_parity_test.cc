// Replays the reports median_pruner_parity.py fed to Optuna's MedianPruner through our
// DecidePrune and requires Optuna's decision at every report. Run by
// optuna_parity_test.sh, which writes the file in the same run; never skipped: without
// the file the test fails.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "search/median_pruner.h"

namespace tuner::search {
namespace {

TEST(MedianPrunerParity, SameDecisionAsOptunasMedianPrunerAtEveryReport) {
  const char* path = std::getenv("TUNER_PRUNER_PARITY_FILE");
  ASSERT_NE(path, nullptr) << "TUNER_PRUNER_PARITY_FILE is not set (ctest runs it through optuna_parity_test.sh)";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "cannot read " << path;
  const nlohmann::json data = nlohmann::json::parse(in);
  int reports = 0, pruned = 0;
  for (const nlohmann::json& c : data.at("cases")) {
    PrunerSpec spec;
    spec.kind = PrunerKind::kMedian;
    spec.n_startup_trials = c.at("n_startup_trials");
    spec.n_warmup_epochs = c.at("n_warmup_epochs");
    spec.interval_epochs = c.at("interval_epochs");
    const bool maximize = c.at("maximize");
    std::vector<TrialRecord> history;
    for (const nlohmann::json& e : c.at("events")) {
      const int64_t number = e.at("trial");
      if (number >= static_cast<int64_t>(history.size())) {
        history.resize(number + 1);
        history[number].number = number;
        history[number].state = TrialState::kRunning;
      }
      TrialRecord& trial = history[number];
      if (e.contains("finish")) {
        const std::string finish = e.at("finish");
        trial.state = finish == "completed" ? TrialState::kCompleted
                      : finish == "pruned"  ? TrialState::kPruned
                                            : TrialState::kFailed;
        continue;
      }
      const int epoch = e.at("epoch");
      trial.intermediate[epoch] = e.at("value");
      trial.execution_values[{0, epoch}] = e.at("value");
      const bool want = e.at("prune");
      const PruneDecision got = DecidePrune(spec, maximize, history, number, 0, epoch);
      ++reports;
      pruned += want;
      EXPECT_EQ(got.prune, want) << "seed " << c.at("seed") << " trial " << number << " epoch "
                                 << epoch << " value " << e.at("value") << " median "
                                 << got.median;
    }
  }
  std::printf("compared %d reports (Optuna %s pruned at %d)\n", reports,
              data.at("optuna").get<std::string>().c_str(), pruned);
  EXPECT_GT(reports, 1000);
  EXPECT_GT(pruned, 100);
}

}  // namespace
}  // namespace tuner::search
