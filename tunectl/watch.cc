// `tunectl watch`: the WatchStudy stream drawn by WatchScreen, reconnecting when the server goes
// away mid-study (a restart), and the CancelToken that lets Ctrl-C end it.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "tunectl/commands.h"
#include "tunectl/format.h"
#include "tunectl/study_view.h"
#include "tunectl/watch_screen.h"

namespace tuner::tunectl {
namespace {

double SystemNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool CancelToken::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (context_ == nullptr) return false;
  context_->TryCancel();
  return true;
}

bool CancelToken::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void CancelToken::Attach(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(mu_);
  context_ = context;
  if (cancelled_) context_->TryCancel();
}

void CancelToken::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  context_ = nullptr;
}

WatchScreen::WatchScreen(std::ostream& out, bool live, std::function<int()> width)
    : out_(out), live_(live), width_(std::move(width)) {}

std::string WatchScreen::EtaText(double now) const {
  const std::optional<double> left = eta_.SecondsLeft(now);
  return left ? FormatDuration(*left) : "";
}

void WatchScreen::Show(const v1::StudyEvent& event, double now) {
  if (event.kind() == v1::StudyEvent::TRIAL_UPDATED) {
    const v1::Trial& trial = event.trial();
    if (trial.state() == v1::FAILED) {
      std::string reason = trial.fail_reason().substr(0, trial.fail_reason().find('\n'));
      last_failure_ = "trial " + std::to_string(trial.trial_id()) + " (number " +
                      std::to_string(trial.number()) + ")" +
                      (trial.worker_name().empty() ? "" : " on " + trial.worker_name()) + ": " +
                      (reason.empty() ? "no reason given" : reason);
    }
    if (!live_) {
      // One line per state change: an epoch reported is not an event worth a line.
      auto [it, added] = states_.emplace(trial.trial_id(), trial.state());
      if (!added && it->second == trial.state()) return;
      it->second = trial.state();
      out_ << EventLine(event, now) << "\n";
      out_.flush();
      return;
    }
    // Drawn with the snapshot the server sends after every batch of trial updates.
    for (auto it = recent_.begin(); it != recent_.end(); ++it) {
      if (it->first == trial.trial_id()) {
        recent_.erase(it);
        break;
      }
    }
    recent_.emplace_front(trial.trial_id(), EventLine(event, now));
    if (recent_.size() > kRecentEvents) recent_.pop_back();
    return;
  }
  study_ = event.study();
  eta_.Observe(event.study(), now);
  if (!live_) {
    const int64_t done = DoneCount(event.study());
    if (event.kind() != v1::StudyEvent::STUDY_FINISHED && done == printed_done_) return;
    printed_done_ = done;
    out_ << EventLine(event, now, EtaText(now)) << "\n";
    out_.flush();
    return;
  }
  notice_.clear();
  Redraw(now);
}

void WatchScreen::Tick(double now) {
  if (live_ && study_) Redraw(now);
}

void WatchScreen::Notice(const std::string& text, double now) {
  if (!live_) {
    if (!text.empty()) {
      out_ << FormatClock(now) << " " << text << "\n";
      out_.flush();
    }
    return;
  }
  notice_ = text;
  Redraw(now);
}

void WatchScreen::Redraw(double now) {
  const int width = width_ ? width_() : 100;
  std::vector<std::string> lines;
  auto add_wrapped = [&](const std::string& line, int indent) {
    for (std::string& part : WrapWords(line, width, indent)) lines.push_back(std::move(part));
  };
  if (study_) {
    SummaryOptions options;
    options.eta = EtaText(now);
    if (options.eta.empty()) options.eta = "?";
    options.width = width;
    options.failure = last_failure_;
    for (const std::string& line : StudySummary(*study_, now, options)) {
      // The brackets table's rows are cut, not wrapped; the other lines wrap under their text.
      if (line.rfind("  ", 0) == 0) {
        lines.push_back(FitWords(line, width));
      } else {
        add_wrapped(line, 10);
      }
    }
  }
  if (!recent_.empty()) {
    lines.push_back("recent");
    for (const auto& [id, line] : recent_) lines.push_back(FitWords("  " + line, width));
  }
  if (!notice_.empty()) add_wrapped(notice_, 2);

  std::string frame;
  // Back to the first line of the previous frame, and clear from there down.
  if (drawn_lines_ > 0) frame += "\r\x1b[" + std::to_string(drawn_lines_) + "A";
  frame += "\x1b[J";
  for (const std::string& line : lines) frame += line + "\n";
  drawn_lines_ = static_cast<int>(lines.size());
  out_ << frame;
  out_.flush();
}

Commands::StreamEnd Commands::WatchStream(int64_t study_id, const WatchOptions& options,
                                          WatchScreen& screen) {
  StreamEnd end;
  std::unique_ptr<grpc::ClientContext> context = NewContext(/*with_deadline=*/false);
  if (options.cancel != nullptr) options.cancel->Attach(context.get());
  v1::WatchStudyRequest request;
  request.set_study_id(study_id);
  std::unique_ptr<grpc::ClientReaderInterface<v1::StudyEvent>> reader =
      stub_.WatchStudy(context.get(), request);
  // The stream is read on its own thread, so the screen can be redrawn every redraw_s while
  // no event comes (a slow epoch); the screen is only touched here.
  std::mutex mu;
  std::condition_variable arrived;
  std::deque<v1::StudyEvent> events;  // guarded by mu
  bool ended = false;                 // guarded by mu
  std::thread read_thread([&] {
    v1::StudyEvent event;
    while (reader->Read(&event)) {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(std::move(event));
      arrived.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu);
    ended = true;
    arrived.notify_one();
  });
  const auto redraw = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::max(options.redraw_s, 0.01)));
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    const bool woke = arrived.wait_for(lock, redraw, [&] { return !events.empty() || ended; });
    if (!woke) {
      lock.unlock();
      screen.Tick(options.now());
      lock.lock();
      continue;
    }
    if (events.empty()) break;  // ended, and every event shown
    std::deque<v1::StudyEvent> batch;
    batch.swap(events);
    lock.unlock();
    for (const v1::StudyEvent& event : batch) {
      end.got_events = true;
      screen.Show(event, options.now());
      if (event.kind() == v1::StudyEvent::STUDY_FINISHED) end.finished = true;
    }
    lock.lock();
  }
  lock.unlock();
  read_thread.join();
  end.status = reader->Finish();
  if (options.cancel != nullptr) options.cancel->Detach();
  return end;
}

int Commands::Watch(const std::string& study_text, const WatchOptions& given) {
  WatchOptions options = given;
  if (!options.now) options.now = SystemNow;
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  if (options.once) {
    const std::optional<v1::Study> study = FetchStudy(*id);
    if (!study) return kExitError;
    SummaryOptions summary;
    summary.failure = LatestFailure(*study);
    for (const std::string& line : StudySummary(*study, options.now(), summary)) {
      out_ << line << "\n";
    }
    return AllTrialsFailed(*study) ? kExitError : kExitOk;
  }

  WatchScreen screen(out_, options.live, options.width);
  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->cancelled(); };
  while (true) {
    const StreamEnd end = WatchStream(*id, options, screen);
    if (end.finished) {
      if (screen.study() && AllTrialsFailed(*screen.study())) {
        const v1::Study& study = *screen.study();
        std::string message = "study " + std::to_string(study.study_id()) +
                              " ended with every trial failed (" +
                              std::to_string(TrialCount(study, v1::FAILED)) + " of " +
                              std::to_string(TotalCount(study)) + ")";
        // A study that failed before the watch began showed no trial event: ask.
        const std::string failure =
            screen.last_failure().empty() ? LatestFailure(study) : screen.last_failure();
        if (!failure.empty()) message += "; " + failure;
        return Fail(message + "; tunectl trials " + std::to_string(study.study_id()) +
                    " --state failed shows each reason");
      }
      return kExitOk;
    }
    if (cancelled()) return kExitInterrupted;
    // A stream that worked and then broke (or was ended by a server shutting down) is a server
    // restart: wait for the server to come back rather than fail the watch.
    const bool lost = end.got_events && (end.status.ok() ||
                                         end.status.error_code() == grpc::StatusCode::UNAVAILABLE);
    if (!lost && end.status.ok()) return Fail("tuner-server ended the watch without an event");
    if (!lost) return Fail(end.status);
    screen.Notice("lost tuner-server at " + options_.server + "; reconnecting (up to " +
                      FormatDuration(options.reconnect_s) + ")",
                  options.now());
    std::unique_ptr<grpc::ClientContext> probe = NewContext(/*with_deadline=*/false);
    probe->set_wait_for_ready(true);
    probe->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(options.reconnect_s)));
    if (options.cancel != nullptr) options.cancel->Attach(probe.get());
    v1::GetStudyRequest request;
    request.set_study_id(*id);
    v1::Study study;
    const grpc::Status status = stub_.GetStudy(probe.get(), request, &study);
    if (options.cancel != nullptr) options.cancel->Detach();
    if (cancelled()) return kExitInterrupted;
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone"));
    }
    if (!status.ok()) return Fail(status);
  }
}

}  // namespace tuner::tunectl
