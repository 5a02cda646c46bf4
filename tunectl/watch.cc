// `tunectl watch`: the WatchStudy stream drawn by WatchScreen, reconnecting when the server goes
// away mid-study (a restart), and the CancelToken that lets Ctrl-C end it.
#include <algorithm>
#include <chrono>
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

void WatchScreen::Show(const v1::StudyEvent& event, double now) {
  if (!live_) {
    out_ << EventLine(event, now) << "\n";
    out_.flush();
    return;
  }
  if (event.kind() == v1::StudyEvent::TRIAL_UPDATED) {
    // Drawn with the snapshot the server sends after every batch of trial updates.
    recent_.push_front(EventLine(event, now));
    if (recent_.size() > kRecentEvents) recent_.pop_back();
    return;
  }
  study_ = event.study();
  notice_.clear();
  Redraw(now);
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
  std::vector<std::string> lines;
  if (study_) lines = StudySummary(*study_, now);
  if (!recent_.empty()) {
    lines.push_back("recent");
    for (const std::string& line : recent_) lines.push_back("  " + line);
  }
  if (!notice_.empty()) lines.push_back(notice_);

  const int width = width_ ? width_() : 100;
  std::string frame;
  // Back to the first line of the previous frame, and clear from there down.
  if (drawn_lines_ > 0) frame += "\r\x1b[" + std::to_string(drawn_lines_) + "A";
  frame += "\x1b[J";
  for (const std::string& line : lines) frame += FitWidth(line, width) + "\n";
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
  v1::StudyEvent event;
  while (reader->Read(&event)) {
    end.got_events = true;
    screen.Show(event, options.now());
    if (event.kind() == v1::StudyEvent::STUDY_FINISHED) end.finished = true;
  }
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
    for (const std::string& line : StudySummary(*study, options.now())) out_ << line << "\n";
    return kExitOk;
  }

  WatchScreen screen(out_, options.live, options.width);
  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->cancelled(); };
  while (true) {
    const StreamEnd end = WatchStream(*id, options, screen);
    if (end.finished) return kExitOk;
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
