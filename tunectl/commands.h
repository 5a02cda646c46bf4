// Commands: what each `tunectl` subcommand does, over any StudyService stub (the real channel in
// tunectl, an in-process server in the tests). Each command prints to the streams it was given
// and returns the process exit code: 0 ok, 1 operational error (one "error: ..." line on err).
// Usage errors (exit 2) are the CLI's (tunectl/cli.h) except where a command validates an
// argument itself.
#ifndef TUNER_TUNECTL_COMMANDS_H_
#define TUNER_TUNECTL_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "grpcpp/client_context.h"
#include "proto/tuner.grpc.pb.h"

namespace tuner::tunectl {

class WatchScreen;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

// How to talk to the server, beyond the stub itself.
struct ClientOptions {
  std::string server = "127.0.0.1:50051";  // named in error messages
  double timeout_s = 10;                   // deadline of each unary RPC
  std::map<std::string, std::string> metadata;  // added to every call (authorization)
  bool tls = false;                        // --tls-ca given: a failed handshake reads UNAVAILABLE
};

// Lets another thread (tunectl's signal watcher) end a running watch. Thread-safe.
class CancelToken {
 public:
  // Cancels the attached call, if any, and every later Attach. Returns whether a call was
  // attached (when none was, the caller may simply exit).
  bool Cancel();
  bool cancelled() const;

  // The context must stay alive until Detach.
  void Attach(grpc::ClientContext* context);
  void Detach();

 private:
  mutable std::mutex mu_;
  grpc::ClientContext* context_ = nullptr;  // guarded by mu_
  bool cancelled_ = false;                  // guarded by mu_
};

struct WatchOptions {
  bool once = false;             // print one snapshot and return
  bool live = false;             // redraw in place with ANSI escapes (a TTY); else one line an event
  std::function<int()> width = [] { return 100; };  // terminal columns, asked at each redraw
  std::function<double()> now;   // wall clock, unix seconds (ETA, event times); default: system
  double reconnect_s = 30;       // keep trying this long when the server goes away mid-watch
  double redraw_s = 1;           // live: redraw this often while no event comes
  CancelToken* cancel = nullptr; // may be null
};

struct EnsembleOptions {
  int k = 5;                     // the k best COMPLETED trials
  bool wait = true;              // until the ensemble is COMPLETED or FAILED
  bool json = false;
  double poll_s = 0.5;           // ListEnsembles interval while waiting
  double wait_timeout_s = 0;     // give up waiting after this long (exit 1); 0 = no limit
  CancelToken* cancel = nullptr; // may be null
};

// `tunectl workers`: ID NAME HOST DEVICES RUNNING "LAST SEEN" REGISTERED, by id; times
// relative to now (unix seconds).
std::string WorkersTable(const std::vector<v1::Worker>& workers, double now);

// Thread-compatible; holds references to the stub and the streams, which must outlive it.
class Commands {
 public:
  Commands(v1::StudyService::StubInterface& stub, ClientOptions options, std::ostream& out,
           std::ostream& err);

  // Prints the new study's id alone on out (or the Study as JSON) and a line for people on err.
  int StartStudy(const std::string& spec_path, bool json);
  int Studies(bool json);
  int Status(const std::string& study, bool json);
  // states: names as --state takes them (case-insensitive); an unknown one is a usage error.
  // with_intermediate: the per-epoch values too (the table: an INTERMEDIATE column of the last
  // epochs; csv: an intermediate_values column). format: table, json, yaml or csv; empty:
  // json when `json`, else table (a format that contradicts `json` is a usage error).
  int Trials(const std::string& study, const std::vector<std::string>& states, bool json,
             bool with_intermediate = false, const std::string& format = "");
  int Best(const std::string& study, int k, bool json);
  int Stop(const std::string& study, bool json);
  // CreateEnsemble, then (options.wait) ListEnsembles until it is COMPLETED (0: prints its test
  // accuracy and each member's) or FAILED (1: its reason); 130 when cancelled while waiting.
  int Ensemble(const std::string& study, const EnsembleOptions& options);
  // Makes the study's next trial use the given params, each "NAME=VALUE" (EnqueueTrial); the
  // server reads each value as its param's type. Prints the new trial (or its JSON). A
  // configuration one of the study's trials already has (any state) is refused (exit 1, naming
  // that trial) unless allow_duplicate; checked by listing the trials before the call.
  int Enqueue(const std::string& study, const std::vector<std::string>& params, bool json,
              bool allow_duplicate = false);
  // Writes the study's HTML report (tunectl/report.h) to html_path, atomically (a temp file
  // in the same directory, then rename): on any failure the path is left as it was.
  int Report(const std::string& study, const std::string& html_path);
  // DeleteStudy: a study that ended, with its trials, ensembles and checkpoints. Prints what
  // went (or its JSON).
  int Delete(const std::string& study, bool json);
  // ListWorkers: every registered worker, the trial it runs and when it was last heard from.
  int Workers(bool json);
  // Until the study finishes (0; 1 when every trial failed), the cancel token fires (130) or
  // the server is lost (1).
  int Watch(const std::string& study, const WatchOptions& options);

  // A numeric id as is; otherwise the one study with that exact name (ListStudies). Prints the
  // error and returns nullopt when there is no such name, several, or the server failed.
  std::optional<int64_t> ResolveStudy(const std::string& study);

 private:
  std::unique_ptr<grpc::ClientContext> NewContext(bool with_deadline) const;
  // Prints one "error: ..." line for a failed RPC and returns kExitError.
  int Fail(const grpc::Status& status) const;
  int Fail(const std::string& message) const;
  // When every trial of the study that ended so far FAILED: the latest one and its reason
  // ("trial 5 (number 4) on w1: REASON"), from the first page of ListTrials; else, or when
  // the call fails, "".
  std::string LatestFailure(const v1::Study& study);
  // GetStudy; prints the error and returns nullopt on failure.
  std::optional<v1::Study> FetchStudy(int64_t study_id);
  // Every study (ListStudies, page after page, by id) or every trial the request selects
  // (ListTrials, by number); one deadline per page. Prints the error and returns nullopt when
  // a page fails.
  std::optional<std::vector<v1::Study>> ListAllStudies(bool with_spec_yaml);
  std::optional<std::vector<v1::Trial>> ListAllTrials(v1::ListTrialsRequest request);
  struct StreamEnd {
    grpc::Status status;
    bool finished = false;    // STUDY_FINISHED came
    bool got_events = false;  // the server answered at least once
  };
  // Reads one WatchStudy stream to its end, drawing every event on screen.
  StreamEnd WatchStream(int64_t study_id, const WatchOptions& options, WatchScreen& screen);

  v1::StudyService::StubInterface& stub_;
  const ClientOptions options_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_COMMANDS_H_
