// Hyperband (Li et al., JMLR 2018) as a pure SearchPolicy. See hyperband.cc for the schedule.
#ifndef TUNER_SEARCH_HYPERBAND_H_
#define TUNER_SEARCH_HYPERBAND_H_

#include <vector>

#include "search/policy.h"

namespace tuner::search {

// One bracket's schedule: rung i has trials[i] configurations trained to epochs[i].
struct BracketSchedule {
  int s = 0;
  std::vector<int> trials;
  std::vector<int> epochs;
};

// Brackets s = s_max..0 for one iteration, s_max = floor(log_eta R),
// n = ceil((s_max+1)/(s+1) * eta^s), r = R * eta^-s, rung i: floor(n eta^-i) at r eta^i epochs.
std::vector<BracketSchedule> HyperbandSchedule(int max_epochs, int eta);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_HYPERBAND_H_
