// Helpers that keep the unary gRPC handlers one line each: the scheduler does the work and
// calls back; these finish the call on the default reactor.
#ifndef TUNER_TUNER_SERVER_UNARY_H_
#define TUNER_TUNER_SERVER_UNARY_H_

#include "grpcpp/support/server_callback.h"
#include "tuner-server/auth.h"
#include "tuner-server/convert.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {

// Finishes at once with a synchronous result.
inline grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                        const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(status));
  return reactor;
}

// Runs fn (returning absl::Status) when the call is authenticated, and finishes with its result.
template <typename Fn>
grpc::ServerUnaryReactor* Guarded(grpc::CallbackServerContext* context, const Authenticator& auth,
                                  Fn fn) {
  if (absl::Status s = auth.Check(*context); !s.ok()) return Answer(context, s);
  return Answer(context, fn());
}

// Hands an authenticated call to a scheduler method that answers through a Done callback
// (after its commit).
template <typename Request, typename Response>
grpc::ServerUnaryReactor* Forward(
    grpc::CallbackServerContext* context, const Authenticator& auth, Scheduler* scheduler,
    void (Scheduler::*method)(const Request&, Response*, Scheduler::Done), const Request* request,
    Response* response) {
  if (absl::Status s = auth.Check(*context); !s.ok()) return Answer(context, s);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  (scheduler->*method)(*request, response,
                       [reactor](const absl::Status& status) { reactor->Finish(ToGrpc(status)); });
  return reactor;
}

// A streaming call refused before it starts (e.g. UNAUTHENTICATED).
template <typename Reactor>
class Refusal : public Reactor {
 public:
  explicit Refusal(const absl::Status& status) { this->Finish(ToGrpc(status)); }
  void OnDone() override { delete this; }
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_UNARY_H_
