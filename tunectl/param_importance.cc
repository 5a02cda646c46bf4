#include "tunectl/param_importance.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <utility>

#include "tunectl/format.h"

namespace tuner::tunectl {
namespace {

constexpr int kMaxBins = 8;
constexpr size_t kMinTrials = 4;

// The level of every trial for one param: -1 for inactive (missing), else 0..k-1.
std::vector<int> Levels(const std::vector<const v1::Trial*>& trials, const search::ParamSpec& p) {
  std::vector<int> level(trials.size(), -1);
  if (p.kind == search::ParamKind::kChoice) {
    std::map<std::string, int> index;
    for (size_t i = 0; i < trials.size(); ++i) {
      const auto it = trials[i]->params().find(p.name);
      if (it == trials[i]->params().end()) continue;
      const auto [pos, added] = index.emplace(FormatParam(it->second), index.size());
      level[i] = pos->second;
    }
    return level;
  }
  // Numeric: rank the values, cut the ranks into equal-count bins; equal values share a bin.
  std::vector<std::pair<double, size_t>> values;
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto it = trials[i]->params().find(p.name);
    if (it == trials[i]->params().end()) continue;
    if (std::optional<double> v = ParamNumber(it->second)) values.emplace_back(*v, i);
  }
  std::sort(values.begin(), values.end());
  size_t distinct = 0;
  for (size_t j = 0; j < values.size(); ++j) {
    if (j == 0 || values[j].first != values[j - 1].first) ++distinct;
  }
  const size_t bins = std::min<size_t>(kMaxBins, distinct);
  if (bins == 0) return level;
  int bin = 0;
  for (size_t j = 0; j < values.size(); ++j) {
    if (j > 0 && values[j].first != values[j - 1].first) {
      bin = static_cast<int>(j * bins / values.size());
    }
    level[values[j].second] = bin;
  }
  return level;
}

// epsilon^2 of the objective grouped by `level` (-1 is a level of its own).
std::pair<double, int> EpsilonSquared(const std::vector<double>& y, const std::vector<int>& level,
                                      double mean, double ss_total) {
  std::map<int, std::pair<double, int>> groups;  // level -> (sum, count)
  for (size_t i = 0; i < y.size(); ++i) {
    auto& [sum, count] = groups[level[i]];
    sum += y[i];
    ++count;
  }
  const int k = static_cast<int>(groups.size());
  double ss_between = 0;
  for (const auto& [l, g] : groups) {
    const double group_mean = g.first / g.second;
    ss_between += g.second * (group_mean - mean) * (group_mean - mean);
  }
  const double n = static_cast<double>(y.size());
  if (k < 2 || n - k <= 0) return {0.0, k};
  const double ms_within = (ss_total - ss_between) / (n - k);
  return {std::max(0.0, (ss_between - (k - 1) * ms_within) / ss_total), k};
}

}  // namespace

std::optional<double> ParamNumber(const v1::ParamValue& value) {
  switch (value.kind_case()) {
    case v1::ParamValue::kIntValue: return static_cast<double>(value.int_value());
    case v1::ParamValue::kFloatValue:
      if (std::isfinite(value.float_value())) return value.float_value();
      return std::nullopt;
    default: return std::nullopt;
  }
}

std::vector<ParamImportance> ParamImportances(const std::vector<v1::Trial>& trials,
                                              const std::vector<search::ParamSpec>& params) {
  std::vector<const v1::Trial*> used;
  std::vector<double> y;
  for (const v1::Trial& t : trials) {
    if (t.state() != v1::COMPLETED || !t.has_value() || !std::isfinite(t.value())) continue;
    used.push_back(&t);
    y.push_back(t.value());
  }
  if (used.size() < kMinTrials) return {};
  const double mean = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(y.size());
  double ss_total = 0;
  for (double v : y) ss_total += (v - mean) * (v - mean);
  if (!(ss_total > 0)) return {};
  std::vector<ParamImportance> out;
  double sum = 0;
  for (const search::ParamSpec& p : params) {
    const auto [explained, k] = EpsilonSquared(y, Levels(used, p), mean, ss_total);
    out.push_back({p.name, 0, explained, k});
    sum += explained;
  }
  if (!(sum > 0)) return {};
  for (ParamImportance& i : out) i.share = i.explained / sum;
  std::stable_sort(out.begin(), out.end(), [](const ParamImportance& a, const ParamImportance& b) {
    return a.share > b.share;
  });
  return out;
}

}  // namespace tuner::tunectl
