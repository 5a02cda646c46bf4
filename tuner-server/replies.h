// Replies: the answers a Scheduler call decides while it holds its mutex, sent once the mutex
// is released. A Done callback finishes a gRPC call (or re-enters the Scheduler, as a test or
// a reactor may): run under the mutex, it would block every other call for as long as it
// takes, or deadlock. Answers that wait for a commit are not collected here: the commit
// callback runs on the GroupCommitter's thread, never under the mutex.
//
// Use: declare one before the lock, in the same or an enclosing scope, so that it is
// destroyed after the lock is released; Add the answers; they are sent in order when it goes.
//
//   Replies replies;
//   absl::MutexLock lock(&mu_);
//   if (bad) return replies.Add(std::move(done), absl::NotFoundError("..."));
//
// Thread-safety: one per call, on the caller's stack.
#ifndef TUNER_TUNER_SERVER_REPLIES_H_
#define TUNER_TUNER_SERVER_REPLIES_H_

#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace tuner::server {

class Replies {
 public:
  using Done = std::function<void(const absl::Status&)>;

  Replies() = default;
  Replies(const Replies&) = delete;
  Replies& operator=(const Replies&) = delete;
  ~Replies() { Send(); }

  // Queues done(status); an empty done is dropped.
  void Add(Done done, absl::Status status) {
    if (done) pending_.emplace_back(std::move(done), std::move(status));
  }
  // Sends what is queued now. Only where no lock is held.
  void Send() {
    std::vector<std::pair<Done, absl::Status>> pending;
    pending.swap(pending_);
    for (auto& [done, status] : pending) done(status);
  }

 private:
  std::vector<std::pair<Done, absl::Status>> pending_;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_REPLIES_H_
