// Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, JMLR 18(185), 2018), Algorithm 1,
// with successive halving run as a pure function of the trial history.
//
// The schedule is computed with integers only: floor(log_eta R) through floating point gives
// 4.999... for log_3 243 and silently drops a bracket.
#include "search/hyperband.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"

namespace tuner::search {
namespace {

constexpr int64_t kMaxPlannedTrials = 100000;

bool Active(TrialState state) {
  return state == TrialState::kPending || state == TrialState::kRunning;
}

}  // namespace

std::vector<BracketSchedule> HyperbandSchedule(int max_epochs, int eta) {
  std::vector<BracketSchedule> brackets;
  if (max_epochs < 1 || eta < 2) return brackets;
  // powers[k] = eta^k for k = 0..s_max, s_max the largest s with eta^s <= R.
  std::vector<int64_t> powers = {1};
  while (powers.back() * eta <= max_epochs) powers.push_back(powers.back() * eta);
  const int s_max = static_cast<int>(powers.size()) - 1;
  for (int s = s_max; s >= 0; --s) {
    BracketSchedule bracket;
    bracket.s = s;
    // n = ceil((s_max + 1) / (s + 1) * eta^s)
    const int64_t n = ((s_max + 1) * powers[s] + s) / (s + 1);
    for (int i = 0; i <= s; ++i) {
      bracket.trials.push_back(static_cast<int>(n / powers[i]));
      int epochs = i == s ? max_epochs
                          : static_cast<int>(std::llround(static_cast<double>(max_epochs) /
                                                          static_cast<double>(powers[s - i])));
      epochs = std::max(epochs, 1);
      if (i > 0) epochs = std::max(epochs, bracket.epochs.back());
      bracket.epochs.push_back(epochs);
    }
    brackets.push_back(std::move(bracket));
  }
  return brackets;
}

absl::StatusOr<std::unique_ptr<HyperbandPolicy>> HyperbandPolicy::Create(const StudySpec& spec) {
  const HyperbandSpec& hb = spec.hyperband;
  if (hb.max_epochs < 1 || hb.max_epochs > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "algorithm.max_epochs: must be an integer >= 1 and <= 1000000 (got ", hb.max_epochs, ")"));
  }
  if (hb.eta < 2 || hb.eta > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm.eta: must be an integer >= 2 and <= 1000 (got ", hb.eta, ")"));
  }
  if (hb.iterations < 1 || hb.iterations > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "algorithm.iterations: must be an integer >= 1 and <= 1000 (got ", hb.iterations, ")"));
  }
  std::vector<BracketSchedule> schedule = HyperbandSchedule(hb.max_epochs, hb.eta);
  int64_t per_iteration = 0;
  for (const BracketSchedule& bracket : schedule) per_iteration += bracket.trials[0];
  if (per_iteration * hb.iterations > kMaxPlannedTrials) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm: hyperband with max_epochs ", hb.max_epochs, ", eta ", hb.eta,
                     " and iterations ", hb.iterations, " plans ", per_iteration * hb.iterations,
                     " trials; at most ", kMaxPlannedTrials));
  }
  return std::unique_ptr<HyperbandPolicy>(new HyperbandPolicy(spec, std::move(schedule)));
}

HyperbandPolicy::HyperbandPolicy(const StudySpec& spec, std::vector<BracketSchedule> schedule)
    : space_(spec.space),
      sampler_(spec.sampler),
      seed_(spec.seed),
      maximize_(spec.maximize),
      iterations_(spec.hyperband.iterations),
      schedule_(std::move(schedule)) {}

const BracketSchedule& HyperbandPolicy::Shape(int bracket) const {
  return schedule_[static_cast<size_t>(bracket) % schedule_.size()];
}

Plan HyperbandPolicy::Next(const std::vector<TrialRecord>& history, int max_new) const {
  const int brackets = iterations_ * static_cast<int>(schedule_.size());
  std::vector<std::vector<const TrialRecord*>> members(brackets);
  bool any_active = false;
  size_t paused = 0;
  for (const TrialRecord& trial : history) {
    any_active = any_active || Active(trial.state);
    if (trial.state == TrialState::kPaused) ++paused;
    if (trial.bracket >= 0 && trial.bracket < brackets) members[trial.bracket].push_back(&trial);
  }

  Plan plan;
  // (1) Decide every rung whose trials are all done and that was not decided yet. Deciding
  // moves the winners to rung i+1, so "no trial at rung i+1" is exactly "not decided yet".
  for (int b = 0; b < brackets; ++b) {
    const BracketSchedule& shape = Shape(b);
    const std::vector<const TrialRecord*>& trials = members[b];
    if (static_cast<int>(trials.size()) < shape.trials[0]) continue;
    int rung = 0;
    for (const TrialRecord* trial : trials) rung = std::max(rung, trial->rung);
    if (rung >= shape.s) continue;  // the last rung: its trials COMPLETE, nothing to decide
    std::vector<const TrialRecord*> ranked;
    std::vector<int64_t> pruned;  // PAUSED without a usable value never compete
    bool waiting = false;
    for (const TrialRecord* trial : trials) {
      if (trial->rung != rung) continue;
      waiting = waiting || Active(trial->state);
      if (trial->state != TrialState::kPaused) continue;
      if (trial->value && !std::isnan(*trial->value)) {
        ranked.push_back(trial);
      } else {
        pruned.push_back(trial->number);
      }
    }
    if (waiting) continue;
    std::sort(ranked.begin(), ranked.end(), [this](const TrialRecord* a, const TrialRecord* b) {
      if (*a->value != *b->value) return Better(*a->value, *b->value, maximize_);
      return a->number < b->number;
    });
    const size_t keep = std::min(ranked.size(), static_cast<size_t>(shape.trials[rung + 1]));
    for (size_t k = 0; k < ranked.size(); ++k) {
      if (k < keep) {
        plan.promotions.push_back({ranked[k]->number, rung + 1, shape.epochs[rung + 1]});
      } else {
        pruned.push_back(ranked[k]->number);
      }
    }
    std::sort(pruned.begin(), pruned.end());
    plan.prunes.insert(plan.prunes.end(), pruned.begin(), pruned.end());
  }

  // (2) New rung-0 trials, bracket after bracket, so workers never wait on a rung decision
  // while there is another bracket to start.
  int room = std::max(max_new, 0);
  bool all_created = true;
  int64_t number = static_cast<int64_t>(history.size());
  std::vector<Observation> observations;
  if (sampler_.kind != SamplerKind::kRandom && room > 0) {
    std::set<int> epochs;
    for (const BracketSchedule& shape : schedule_) epochs.insert(shape.epochs.begin(), shape.epochs.end());
    observations = BudgetObservations(history, {epochs.begin(), epochs.end()},
                                      sampler_.n_startup_trials);
  }
  for (int b = 0; b < brackets; ++b) {
    const BracketSchedule& shape = Shape(b);
    const int missing = shape.trials[0] - static_cast<int>(members[b].size());
    const int take = std::clamp(missing, 0, room);
    for (int k = 0; k < take; ++k, ++number) {
      std::mt19937_64 rng = TrialRng(seed_, number);
      plan.new_trials.push_back(
          {SampleWith(sampler_, space_, maximize_, observations, rng), b, 0, shape.epochs[0]});
      // The next sample of this plan sees this one as running (the constant liar).
      observations.push_back(Observation::Running(plan.new_trials.back().params));
    }
    room -= take;
    all_created = all_created && missing <= take;
  }

  // Finished when this plan leaves nothing to run and nothing to decide: every PAUSED trial
  // is pruned by it, so the scheduler can close the study as soon as it applies the plan.
  plan.finished = all_created && plan.new_trials.empty() && plan.promotions.empty() &&
                  !any_active && plan.prunes.size() == paused;
  return plan;
}

bool HyperbandPolicy::MayPromote(const TrialRecord& trial) const {
  const int brackets = iterations_ * static_cast<int>(schedule_.size());
  if (trial.bracket < 0 || trial.bracket >= brackets) return false;
  return trial.rung < Shape(trial.bracket).s;
}

int64_t HyperbandPolicy::PlannedTrials() const {
  int64_t per_iteration = 0;
  for (const BracketSchedule& bracket : schedule_) per_iteration += bracket.trials[0];
  return per_iteration * iterations_;
}

}  // namespace tuner::search
