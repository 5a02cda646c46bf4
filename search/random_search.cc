#include "search/random_search.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "search/sampler.h"

namespace tuner::search {

absl::StatusOr<std::unique_ptr<RandomSearch>> RandomSearch::Create(const StudySpec& spec) {
  if (spec.max_trials < 1 || spec.max_trials > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "algorithm.max_trials: must be an integer >= 1 and <= 100000 (got ", spec.max_trials, ")"));
  }
  if (spec.epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.epochs: must be an integer >= 1 (got ", spec.epochs, ")"));
  }
  return std::unique_ptr<RandomSearch>(new RandomSearch(spec));
}

RandomSearch::RandomSearch(const StudySpec& spec)
    : space_(spec.space),
      sampler_(spec.sampler),
      maximize_(spec.maximize),
      seed_(spec.seed),
      max_trials_(spec.max_trials),
      epochs_(spec.epochs) {}

absl::StatusOr<NewTrial> RandomSearch::Enqueue(const std::vector<TrialRecord>& history,
                                               Params params) const {
  if (static_cast<int64_t>(history.size()) >= max_trials_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the study already created all its trials (algorithm.max_trials: ", max_trials_, ")"));
  }
  return NewTrial{std::move(params), -1, 0, epochs_};
}

Plan RandomSearch::Next(const std::vector<TrialRecord>& history, int max_new) const {
  Plan plan;
  const int64_t first = static_cast<int64_t>(history.size());
  const int64_t end = std::min<int64_t>(max_trials_, first + std::max(max_new, 0));
  std::vector<Observation> observations;
  if (sampler_.kind != SamplerKind::kRandom && first < end) {
    observations = SamplerObservations(history);
  }
  for (int64_t number = first; number < end; ++number) {
    std::mt19937_64 rng = TrialRng(seed_, number);
    plan.new_trials.push_back(
        {SampleWith(sampler_, space_, maximize_, observations, rng), -1, 0, epochs_});
    // The next sample of this plan sees this one as running (the constant liar).
    observations.push_back(Observation::Running(plan.new_trials.back().params));
  }
  plan.finished = std::max(end, first) >= max_trials_;
  return plan;
}

}  // namespace tuner::search
