// How long a study has left, from its work in epochs (Study.epochs_done / planned_epochs, see
// search/progress.h): the epochs left over the rate they are trained at. A running trial's
// epochs count as they are reported, so the ETA falls while trials run instead of waiting
// for them to finish. Pure: callers pass the time in.
#ifndef TUNER_TUNECTL_ETA_H_
#define TUNER_TUNECTL_ETA_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "proto/tuner.pb.h"

namespace tuner::tunectl {

namespace v1 = ::tuner::v1;

// One look at a study (`tunectl status`): epochs left over the average rate since the study
// was created. nullopt when it cannot be told: no plan, nothing trained yet, ended, or created
// less than 5 s ago (the first epochs come in bursts, one per worker, and say little).
std::optional<double> EtaSeconds(const v1::Study& study, double now);

// `tunectl watch`: the rate over the recent past (the snapshots of the last window_s seconds),
// so a pause before the watch started or a change in the number of workers fades out, and a
// countdown between snapshots (a slow epoch still shows time passing). Thread-compatible.
class EtaEstimator {
 public:
  explicit EtaEstimator(double window_s = 60) : window_s_(window_s) {}

  // A snapshot of the study, received at `now`.
  void Observe(const v1::Study& study, double now);
  // Seconds left at `now` (>= 0); nullopt when not known (see EtaSeconds).
  std::optional<double> SecondsLeft(double now) const;

 private:
  const double window_s_;
  std::deque<std::pair<double, int64_t>> samples_;  // (time, epochs_done), oldest first
  std::optional<v1::Study> study_;                  // the latest snapshot
  double observed_at_ = 0;                          // when it came (before any epoch)
};

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_ETA_H_
