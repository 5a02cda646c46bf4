#include "tunectl/eta.h"

#include <algorithm>

namespace tuner::tunectl {
namespace {

// The rate needs this much history: before it the recent window gives way to the study's
// average, and the study's average to "not known yet".
constexpr double kMinWindowSeconds = 5;

bool Known(const v1::Study& study) {
  return study.state() == v1::STUDY_RUNNING && study.planned_epochs() > 0 &&
         study.epochs_done() > 0;
}

int64_t EpochsLeft(const v1::Study& study) {
  return std::max<int64_t>(0, study.planned_epochs() - study.epochs_done());
}

}  // namespace

std::optional<double> EtaSeconds(const v1::Study& study, double now) {
  if (!Known(study) || study.created_at() <= 0) return std::nullopt;
  const double elapsed = now - study.created_at();
  // The first epochs say little about the rate (they come in bursts, one per worker).
  if (elapsed < kMinWindowSeconds) return std::nullopt;
  const double rate = static_cast<double>(study.epochs_done()) / elapsed;  // epochs a second
  return static_cast<double>(EpochsLeft(study)) / rate;
}

void EtaEstimator::Observe(const v1::Study& study, double now) {
  // A study that went back (another study, a server restart that lost nothing but time) or
  // ended starts the history again.
  if (study_ && (study_->study_id() != study.study_id() ||
                 study.epochs_done() < study_->epochs_done())) {
    samples_.clear();
  }
  study_ = study;
  observed_at_ = now;
  if (samples_.empty() || samples_.back().second != study.epochs_done()) {
    samples_.emplace_back(now, study.epochs_done());
  }
  // Keep the newest sample older than the window as its start.
  while (samples_.size() > 2 && samples_[1].first <= now - window_s_) samples_.pop_front();
}

std::optional<double> EtaEstimator::SecondsLeft(double now) const {
  if (!study_ || !Known(*study_)) return std::nullopt;
  std::optional<double> at_snapshot;
  if (samples_.size() >= 2) {
    const auto& [t0, e0] = samples_.front();
    const auto& [t1, e1] = samples_.back();
    if (t1 - t0 >= kMinWindowSeconds && e1 > e0) {
      at_snapshot = static_cast<double>(EpochsLeft(*study_)) * (t1 - t0) /
                    static_cast<double>(e1 - e0);
    }
  }
  // The epochs left are as of the last epoch reported: count down from then.
  const double since = samples_.empty() ? observed_at_ : samples_.back().first;
  if (!at_snapshot) at_snapshot = EtaSeconds(*study_, since);
  if (!at_snapshot) return std::nullopt;
  return std::max(0.0, *at_snapshot - std::max(0.0, now - since));
}

}  // namespace tuner::tunectl
