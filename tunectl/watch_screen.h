// WatchScreen: how `tunectl watch` shows a study's event stream. Live (a TTY): one frame, the
// study summary plus the latest trial events, redrawn in place with ANSI escapes at each
// snapshot. Otherwise (a pipe, a log file): one line per event.
#ifndef TUNER_TUNECTL_WATCH_SCREEN_H_
#define TUNER_TUNECTL_WATCH_SCREEN_H_

#include <deque>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "proto/tuner.pb.h"

namespace tuner::tunectl {

// Thread-compatible. Holds a reference to out, which must outlive it.
class WatchScreen {
 public:
  static constexpr size_t kRecentEvents = 6;

  // width: terminal columns, asked at each redraw (live lines are cut to fit so they never wrap,
  // which would break the redraw).
  WatchScreen(std::ostream& out, bool live, std::function<int()> width);

  void Show(const v1::StudyEvent& event, double now);
  // A line about the connection ("lost tuner-server, reconnecting"); empty clears it (live).
  void Notice(const std::string& text, double now);

 private:
  void Redraw(double now);

  std::ostream& out_;
  const bool live_;
  const std::function<int()> width_;
  std::optional<v1::Study> study_;  // the latest snapshot
  std::deque<std::string> recent_;  // trial event lines, newest first
  std::string notice_;
  int drawn_lines_ = 0;             // lines of the frame on screen, to move back over
};

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_WATCH_SCREEN_H_
