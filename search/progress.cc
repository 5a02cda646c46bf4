#include "search/progress.h"

#include <algorithm>
#include <cmath>

#include "search/asha.h"
#include "search/hyperband.h"

namespace tuner::search {
namespace {

bool Finished(TrialState state) {
  return state == TrialState::kCompleted || state == TrialState::kPruned ||
         state == TrialState::kFailed || state == TrialState::kStopped;
}

// Epochs a configuration at rung k of a rung schedule is expected to train to, from scratch:
// rung j's extra epochs weighed by the odds of reaching it (odds(k, j), 1 for j = k).
template <typename Odds>
double ExpectedEpochs(const std::vector<int>& epochs, size_t k, Odds odds) {
  if (epochs.empty()) return 0;
  k = std::min(k, epochs.size() - 1);
  double expected = epochs[k];
  for (size_t j = k + 1; j < epochs.size(); ++j) expected += odds(k, j) * (epochs[j] - epochs[j - 1]);
  return expected;
}

}  // namespace

EpochProgress EstimateEpochs(const StudySpec& spec, const std::vector<TrialRecord>& history,
                             int64_t planned_trials, bool finished) {
  const int executions = std::max(1, spec.executions_per_trial);
  EpochProgress progress;
  std::vector<int64_t> trained(history.size());
  for (size_t i = 0; i < history.size(); ++i) {
    trained[i] = static_cast<int64_t>(history[i].execution_values.size());
    progress.done += trained[i];
  }
  if (finished) {
    progress.planned = progress.done;
    return progress;
  }
  double planned = 0;  // expected epochs of one execution, summed
  // What a trial not finished will have trained, given its expected epochs per execution.
  auto add_trial = [&](size_t i, double expected) {
    if (Finished(history[i].state)) {
      planned += static_cast<double>(trained[i]) / executions;
      return;
    }
    planned += std::max(expected, static_cast<double>(trained[i]) / executions);
  };

  switch (spec.algorithm) {
    case Algorithm::kRandom:
    case Algorithm::kGrid: {
      if (planned_trials <= 0) return progress;
      const int budget = std::max(1, spec.epochs);
      for (size_t i = 0; i < history.size(); ++i) {
        add_trial(i, std::max(budget, history[i].budget_epochs));
      }
      const int64_t missing = planned_trials - static_cast<int64_t>(history.size());
      if (missing > 0) planned += static_cast<double>(missing) * budget;
      break;
    }
    case Algorithm::kHyperband: {
      const std::vector<BracketSchedule> schedule =
          HyperbandSchedule(spec.hyperband.max_epochs, spec.hyperband.eta);
      if (schedule.empty()) return progress;
      auto shape = [&](int bracket) -> const BracketSchedule& {
        return schedule[static_cast<size_t>(bracket) % schedule.size()];
      };
      const int brackets = spec.hyperband.iterations * static_cast<int>(schedule.size());
      std::vector<int64_t> created(std::max(brackets, 0), 0);
      for (size_t i = 0; i < history.size(); ++i) {
        const int b = history[i].bracket;
        if (b < 0) {
          add_trial(i, history[i].budget_epochs);
          continue;
        }
        if (b < brackets) ++created[b];
        const BracketSchedule& s = shape(b);
        add_trial(i, ExpectedEpochs(s.epochs, history[i].rung, [&](size_t k, size_t j) {
                    return static_cast<double>(s.trials[j]) / std::max(1, s.trials[k]);
                  }));
      }
      for (int b = 0; b < brackets; ++b) {
        const BracketSchedule& s = shape(b);
        const int64_t missing = s.trials.empty() ? 0 : s.trials[0] - created[b];
        if (missing <= 0) continue;
        planned += static_cast<double>(missing) *
                   ExpectedEpochs(s.epochs, 0, [&](size_t k, size_t j) {
                     return static_cast<double>(s.trials[j]) / std::max(1, s.trials[k]);
                   });
      }
      break;
    }
    case Algorithm::kAsha: {
      const AshaSpec& asha = spec.asha;
      const int brackets = std::max(1, asha.brackets);
      std::vector<std::vector<int>> rungs;
      for (int b = 0; b < brackets; ++b) {
        rungs.push_back(AshaRungEpochs(asha.min_epochs, asha.max_epochs, asha.eta, b));
        if (rungs.back().empty()) return progress;
      }
      auto odds = [&](size_t k, size_t j) {
        return std::pow(static_cast<double>(asha.eta), -static_cast<double>(j - k));
      };
      for (size_t i = 0; i < history.size(); ++i) {
        const int b = history[i].bracket;
        if (b < 0 || b >= brackets) {
          add_trial(i, history[i].budget_epochs);
          continue;
        }
        add_trial(i, ExpectedEpochs(rungs[b], history[i].rung, odds));
      }
      // Configuration m goes to bracket m % brackets.
      const int64_t first = static_cast<int64_t>(history.size());
      for (int b = 0; b < brackets && planned_trials > first; ++b) {
        // m in [first, planned_trials) with m % brackets == b.
        auto count_below = [&](int64_t end) { return end <= b ? 0 : (end - b - 1) / brackets + 1; };
        const int64_t missing = count_below(planned_trials) - count_below(first);
        if (missing > 0) planned += static_cast<double>(missing) * ExpectedEpochs(rungs[b], 0, odds);
      }
      break;
    }
  }
  progress.planned =
      std::max(progress.done, static_cast<int64_t>(std::llround(planned * executions)));
  return progress;
}

}  // namespace tuner::search
