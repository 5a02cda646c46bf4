// WatchScreen: how `tunectl watch` shows a study's event stream. Live (a TTY): one frame, the
// study summary plus the latest line of each recently changed trial, redrawn in place with
// ANSI escapes at each snapshot and every second in between (Tick), so elapsed time and the
// ETA move during slow epochs; lines are wrapped or cut at word boundaries to the terminal's
// width. Otherwise (a pipe, a log file, --plain): one line per trial event (a trial created,
// started, finished, re-queued: not every epoch) and a study line when a trial ended.
#ifndef TUNER_TUNECTL_WATCH_SCREEN_H_
#define TUNER_TUNECTL_WATCH_SCREEN_H_

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "proto/tuner.pb.h"
#include "tunectl/eta.h"

namespace tuner::tunectl {

// Thread-compatible. Holds a reference to out, which must outlive it.
class WatchScreen {
 public:
  static constexpr size_t kRecentEvents = 6;

  // width: terminal columns, asked at each redraw (live lines never wrap on their own, which
  // would break the redraw).
  WatchScreen(std::ostream& out, bool live, std::function<int()> width);

  void Show(const v1::StudyEvent& event, double now);
  // Time passed without an event: live, the frame is drawn again (elapsed, ETA).
  void Tick(double now);
  // A line about the connection ("lost tuner-server, reconnecting"); empty clears it (live).
  void Notice(const std::string& text, double now);

  // The latest snapshot, if any.
  const std::optional<v1::Study>& study() const { return study_; }
  // The latest FAILED trial seen, as "trial 5 (number 4) on w1: reason"; empty when none.
  const std::string& last_failure() const { return last_failure_; }

 private:
  void Redraw(double now);
  std::string EtaText(double now) const;

  std::ostream& out_;
  const bool live_;
  const std::function<int()> width_;
  std::optional<v1::Study> study_;                 // the latest snapshot
  EtaEstimator eta_;
  // Live: the latest line of each recently changed trial, newest first.
  std::deque<std::pair<int64_t, std::string>> recent_;
  std::map<int64_t, v1::TrialState> states_;       // plain: each trial's last state printed
  int64_t printed_done_ = -1;                      // plain: done count of the last study line
  std::string last_failure_;
  std::string notice_;
  int drawn_lines_ = 0;                            // lines of the frame on screen
};

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_WATCH_SCREEN_H_
