// TPE: the l(x) / g(x) split, the Parzen estimators and the choice among candidates.
#include "search/tpe_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <string>

#include "search/parzen_estimator.h"
#include "search/sampler_math.h"

namespace tuner::search {
namespace {

constexpr int kMaxBelow = 25;    // l(x) never has more observations than this

bool HasAll(const Params& params, const std::vector<const ParamSpec*>& group) {
  for (const ParamSpec* p : group) {
    auto it = params.find(p->name);
    if (it == params.end()) return false;
    if (p->kind == ParamKind::kChoice) {
      if (std::find(p->values.begin(), p->values.end(), it->second) == p->values.end()) {
        return false;
      }
    } else {
      const double v = AsNumber(it->second);
      if (!std::isfinite(v) || v < p->min || v > p->max) return false;
    }
  }
  return true;
}

std::vector<const Params*> WithGroup(const std::vector<const Observation*>& side,
                                     const std::vector<const ParamSpec*>& group) {
  std::vector<const Params*> out;
  for (const Observation* o : side) {
    if (HasAll(o->params, group)) out.push_back(&o->params);
  }
  return out;
}

// Samples the params of `group` jointly: the best of n_ei_candidates draws from l(x).
Params SampleGroup(const std::vector<const ParamSpec*>& group,
                   const std::vector<const Observation*>& below,
                   const std::vector<const Observation*>& above, const SamplerSpec& spec,
                   std::mt19937_64& rng) {
  const ParzenEstimator l(group, WithGroup(below, group), spec);
  const ParzenEstimator g(group, WithGroup(above, group), spec);
  Params best;
  double best_score = -std::numeric_limits<double>::infinity();
  const int candidates = std::max(1, spec.n_ei_candidates);
  for (int c = 0; c < candidates; ++c) {
    Params candidate = l.Sample(rng);
    const double score = l.LogPdf(candidate) - g.LogPdf(candidate);
    if (c == 0 || score > best_score) {
      best = std::move(candidate);
      best_score = score;
    }
  }
  return best;
}

ParamValue FixedValue(const ParamSpec& param) {
  return param.kind == ParamKind::kInt ? ParamValue(static_cast<int64_t>(param.min))
                                       : ParamValue(param.min);
}

// Rank key: COMPLETED (0) by value, PRUNED (1) later epoch first then by value, running (2).
struct Ranked {
  int group;
  double step_key;
  double value_key;  // smaller is better
  size_t order;      // position in the observations (trial order)
};

}  // namespace

TpeSplit SplitObservations(const SamplerSpec& spec, bool maximize,
                           const std::vector<Observation>& observations) {
  std::vector<Ranked> ranked;
  TpeSplit split;
  for (size_t i = 0; i < observations.size(); ++i) {
    const Observation& o = observations[i];
    if (o.running) {
      if (spec.constant_liar) ranked.push_back({2, 0, 0, i});
      continue;
    }
    if (!std::isfinite(o.value)) continue;
    ++split.finished;
    const double value_key = maximize ? -o.value : o.value;
    ranked.push_back(
        {o.pruned ? 1 : 0, o.pruned ? -static_cast<double>(o.step) : 0, value_key, i});
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.group != b.group) return a.group < b.group;
    if (a.step_key != b.step_key) return a.step_key < b.step_key;
    return a.value_key < b.value_key;
  });
  const size_t n_below = std::max<size_t>(
      1, std::min<size_t>({split.finished, static_cast<size_t>(kMaxBelow),
                           static_cast<size_t>(std::ceil(
                               spec.gamma * static_cast<double>(split.finished) - 1e-9))}));
  for (size_t j = 0; j < ranked.size(); ++j) {
    (j < n_below ? split.below : split.above).push_back(ranked[j].order);
  }
  std::sort(split.below.begin(), split.below.end());
  std::sort(split.above.begin(), split.above.end());
  return split;
}

Params TpeSample(const SearchSpace& space, const SamplerSpec& spec, bool maximize,
                 const std::vector<Observation>& observations, std::mt19937_64& rng) {
  const TpeSplit split = SplitObservations(spec, maximize, observations);
  if (split.finished < static_cast<size_t>(std::max(1, spec.n_startup_trials))) {
    return SampleParams(space, rng);
  }
  std::vector<const Observation*> below, above;
  for (size_t i : split.below) below.push_back(&observations[i]);
  for (size_t i : split.above) above.push_back(&observations[i]);

  Params params;
  std::set<std::string> done;
  for (const ParamSpec& param : space.params) {
    if (param.kind != ParamKind::kChoice && param.min == param.max) {
      params[param.name] = FixedValue(param);
      done.insert(param.name);
    }
  }
  if (!spec.multivariate) {
    for (const ParamSpec& param : space.params) {
      if (done.count(param.name)) continue;
      Params one = SampleGroup({&param}, below, above, spec, rng);
      params[param.name] = one.at(param.name);
    }
    return ActiveOnly(space, std::move(params));
  }
  // Groups: the params active given what was chosen so far, until none is left.
  for (;;) {
    std::vector<const ParamSpec*> group;
    for (const ParamSpec& param : space.params) {
      if (done.count(param.name) == 0 && IsActive(space, param, params)) group.push_back(&param);
    }
    if (group.empty()) break;
    Params chosen = SampleGroup(group, below, above, spec, rng);
    for (const ParamSpec* param : group) {
      params[param->name] = chosen.at(param->name);
      done.insert(param->name);
    }
  }
  return ActiveOnly(space, std::move(params));
}

}  // namespace tuner::search
