// How much of the objective's spread each param explains, for the report's importance plot.
// Not fANOVA (Optuna's default, a random forest's functional ANOVA): a one-way variance
// decomposition per param, simple enough to state in one sentence and to check by hand.
// Pure: trials and the space come in as data.
#ifndef TUNER_TUNECTL_PARAM_IMPORTANCE_H_
#define TUNER_TUNECTL_PARAM_IMPORTANCE_H_

#include <optional>
#include <string>
#include <vector>

#include "proto/tuner.pb.h"
#include "search/space.h"

namespace tuner::tunectl {

struct ParamImportance {
  std::string name;
  double share = 0;     // this param's part of the sum over params; the shares sum to 1
  double explained = 0; // epsilon^2: the part of the objective's variance its levels explain
  int levels = 0;       // groups the trials fell into
};

// A numeric param value; nullopt for a string or a number that is not finite.
std::optional<double> ParamNumber(const v1::ParamValue& value);

// Over the COMPLETED trials with a finite value (at least 4): each param splits them into
// levels, one per choice value, numeric values into up to 8 groups of about equal count by
// rank (so a log param is cut as in log space), plus one level for trials where a
// conditional param is inactive. explained = epsilon^2 = (SS_between - (k - 1) MS_within) /
// SS_total, the one-way ANOVA's bias-corrected share of variance (clipped at 0: a param of
// pure noise scores about 0 however many levels it has). share = explained / sum(explained).
// Sorted by share, largest first; ties in spec order. Empty when fewer than 4 trials, when
// the values do not vary, or when no param explains anything. It sees each param alone:
// what two params do only together is nobody's share.
std::vector<ParamImportance> ParamImportances(const std::vector<v1::Trial>& trials,
                                              const std::vector<search::ParamSpec>& params);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_PARAM_IMPORTANCE_H_
