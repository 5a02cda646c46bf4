// ASHA as a pure function of the trial history: each Next() call is one or more "get_job"s of
// the paper's Algorithm 2, with the rungs rebuilt from the history every time.
#include "search/asha.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "search/sampler.h"

namespace tuner::search {
namespace {

bool Active(TrialState state) {
  return state == TrialState::kPending || state == TrialState::kRunning;
}

// One trial that finished rung k.
struct Finisher {
  const TrialRecord* trial = nullptr;
  std::optional<double> value;  // empty: moved on without reporting the rung's epoch
  bool waiting = false;         // PAUSED at rung k: may be promoted
};

// Who finished rung `rung` (epochs `epochs`) among `members`.
std::vector<Finisher> Finishers(const std::vector<const TrialRecord*>& members, int rung,
                                int epochs) {
  std::vector<Finisher> out;
  for (const TrialRecord* trial : members) {
    if (trial->rung > rung) {
      auto it = trial->intermediate.find(epochs);
      std::optional<double> value;
      if (it != trial->intermediate.end() && std::isfinite(it->second)) value = it->second;
      out.push_back({trial, value, false});
    } else if (trial->rung == rung && trial->value && std::isfinite(*trial->value) &&
               (trial->state == TrialState::kPaused || trial->state == TrialState::kCompleted ||
                trial->state == TrialState::kPruned)) {
      out.push_back({trial, trial->value, trial->state == TrialState::kPaused});
    }
  }
  return out;
}

}  // namespace

std::vector<int> AshaRungEpochs(int min_epochs, int max_epochs, int eta, int s) {
  std::vector<int> epochs;
  if (min_epochs < 1 || max_epochs < min_epochs || eta < 2 || s < 0) return epochs;
  int64_t e = min_epochs;
  for (int i = 0; i < s && e < max_epochs; ++i) e *= eta;
  for (; e < max_epochs; e *= eta) epochs.push_back(static_cast<int>(e));
  epochs.push_back(max_epochs);
  return epochs;
}

absl::StatusOr<std::unique_ptr<AshaPolicy>> AshaPolicy::Create(const StudySpec& spec) {
  const AshaSpec& asha = spec.asha;
  if (spec.max_trials < 1 || spec.max_trials > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "algorithm.max_trials: must be an integer >= 1 and <= 100000 (got ", spec.max_trials, ")"));
  }
  if (asha.max_epochs < 1 || asha.max_epochs > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm.max_epochs: must be an integer >= 1 and <= 1000000 (got ",
                     asha.max_epochs, ")"));
  }
  if (asha.min_epochs < 1 || asha.min_epochs > asha.max_epochs) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm.min_epochs: must be an integer >= 1 and <= ", asha.max_epochs,
                     " (got ", asha.min_epochs, ")"));
  }
  if (asha.eta < 2 || asha.eta > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm.eta: must be an integer >= 2 and <= 1000 (got ", asha.eta, ")"));
  }
  const int rungs =
      static_cast<int>(AshaRungEpochs(asha.min_epochs, asha.max_epochs, asha.eta, 0).size());
  if (asha.brackets < 1 || asha.brackets > rungs) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm.brackets: must be an integer >= 1 and <= ", rungs,
                     " (the rungs from min_epochs to max_epochs) (got ", asha.brackets, ")"));
  }
  std::vector<std::vector<int>> by_bracket;
  for (int s = 0; s < asha.brackets; ++s) {
    by_bracket.push_back(AshaRungEpochs(asha.min_epochs, asha.max_epochs, asha.eta, s));
  }
  return std::unique_ptr<AshaPolicy>(new AshaPolicy(spec, std::move(by_bracket)));
}

AshaPolicy::AshaPolicy(const StudySpec& spec, std::vector<std::vector<int>> rungs)
    : space_(spec.space),
      sampler_(spec.sampler),
      seed_(spec.seed),
      maximize_(spec.maximize),
      eta_(spec.asha.eta),
      max_trials_(spec.max_trials),
      rungs_(std::move(rungs)) {}

bool AshaPolicy::MayPromote(const TrialRecord& trial) const {
  if (trial.bracket < 0 || trial.bracket >= brackets()) return false;
  return trial.rung + 1 < static_cast<int>(rungs_[trial.bracket].size());
}

absl::StatusOr<NewTrial> AshaPolicy::Enqueue(const std::vector<TrialRecord>& history,
                                             Params params) const {
  const int64_t number = static_cast<int64_t>(history.size());
  if (number >= max_trials_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the study already started all its configurations (algorithm.max_trials: ",
        max_trials_, ")"));
  }
  const int bracket = static_cast<int>(number % brackets());
  return NewTrial{std::move(params), bracket, 0, rungs_[bracket][0]};
}

Plan AshaPolicy::Next(const std::vector<TrialRecord>& history, int max_new) const {
  std::vector<std::vector<const TrialRecord*>> members(rungs_.size());
  bool any_active = false;
  for (const TrialRecord& trial : history) {
    any_active = any_active || Active(trial.state);
    if (trial.bracket >= 0 && trial.bracket < brackets()) members[trial.bracket].push_back(&trial);
  }

  // Every promotable trial, best rung first: (rung, bracket, rank) -> trial. A trial is
  // promotable when it waits at rung k and ranks in the top floor(n_k / eta) of rung k.
  struct Candidate {
    int rung;
    int bracket;
    size_t rank;
    int64_t number;
  };
  std::vector<Candidate> candidates;
  for (int b = 0; b < brackets(); ++b) {
    const std::vector<int>& epochs = rungs_[b];
    for (int k = 0; k + 1 < static_cast<int>(epochs.size()); ++k) {
      std::vector<Finisher> finishers = Finishers(members[b], k, epochs[k]);
      const size_t quota = finishers.size() / static_cast<size_t>(eta_);
      if (quota == 0) continue;
      std::sort(finishers.begin(), finishers.end(), [this](const Finisher& x, const Finisher& y) {
        if (x.value.has_value() != y.value.has_value()) return !x.value.has_value();
        if (x.value && *x.value != *y.value) return Better(*x.value, *y.value, maximize_);
        return x.trial->number < y.trial->number;
      });
      for (size_t rank = 0; rank < quota; ++rank) {
        if (finishers[rank].waiting) {
          candidates.push_back({k, b, rank, finishers[rank].trial->number});
        }
      }
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& x, const Candidate& y) {
    if (x.rung != y.rung) return x.rung > y.rung;
    if (x.rank != y.rank) return x.rank < y.rank;
    if (x.number != y.number) return x.number < y.number;
    return x.bracket < y.bracket;
  });

  Plan plan;
  int jobs = std::max(max_new, 0);
  size_t next_candidate = 0;
  int64_t number = static_cast<int64_t>(history.size());
  std::vector<Observation> observations;
  bool observed = false;
  while (jobs > 0) {
    if (next_candidate < candidates.size()) {
      const Candidate& c = candidates[next_candidate++];
      plan.promotions.push_back({c.number, c.rung + 1, rungs_[c.bracket][c.rung + 1]});
    } else if (number < max_trials_) {
      if (!observed && sampler_.kind != SamplerKind::kRandom) {
        std::set<int> epochs;
        for (const std::vector<int>& rungs : rungs_) epochs.insert(rungs.begin(), rungs.end());
        observations = search::BudgetObservations(history, {epochs.begin(), epochs.end()},
                                                  sampler_.n_startup_trials);
        observed = true;
      }
      std::mt19937_64 rng = TrialRng(seed_, number);
      const int bracket = static_cast<int>(number % brackets());
      plan.new_trials.push_back({SampleWith(sampler_, space_, maximize_, observations, rng),
                                 bracket, 0, rungs_[bracket][0]});
      // The next sample of this plan sees this one as running (the constant liar).
      observations.push_back(Observation::Running(plan.new_trials.back().params));
      ++number;
    } else {
      break;
    }
    --jobs;
  }

  // Done when everything was started, nothing runs and nothing can move up: the trials still
  // waiting at a rung will never be promoted.
  if (number >= max_trials_ && !any_active && candidates.empty() && plan.new_trials.empty()) {
    for (const TrialRecord& trial : history) {
      if (trial.state == TrialState::kPaused) plan.prunes.push_back(trial.number);
    }
    plan.finished = true;
  }
  return plan;
}

}  // namespace tuner::search
