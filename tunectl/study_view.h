// Views of studies, trials and watch events for people: the text tunectl prints. Pure functions
// of the protos and a "now" passed in (unix seconds), so each is unit-tested.
#ifndef TUNER_TUNECTL_STUDY_VIEW_H_
#define TUNER_TUNECTL_STUDY_VIEW_H_

#include <string>
#include <vector>

#include "proto/tuner.pb.h"

namespace tuner::tunectl {

namespace v1 = ::tuner::v1;

// The algorithm as people name it, with its sampler and pruner: "random", "tpe", "tpe+median",
// "grid", "hyperband", "hyperband+tpe" (BOHB), "asha+gp". A server that does not say
// (sampler empty) gives the algorithm alone.
std::string AlgorithmLabel(const v1::Study& study);

// The study ended and every one of its trials FAILED (none completed, was pruned or stopped).
bool AllTrialsFailed(const v1::Study& study);
// STATE for people: RUNNING, COMPLETED, STOPPED, or FAILED for a study that ended with every
// trial failed (its proto state is STUDY_COMPLETED or STUDY_STOPPED).
std::string StudyOutcome(const v1::Study& study);

// `tunectl studies`: ID NAME STATE ALGORITHM TRIALS BEST CREATED, by id.
std::string StudiesTable(std::vector<v1::Study> studies);

// A RUNNING trial whose worker has not been heard from for this long reads "silent N s":
// workers heartbeat every third of the lease (10 s with the default 30 s lease).
constexpr double kSilentAfterSeconds = 15;

// `tunectl trials`: NUMBER ID STATE VALUE EPOCHS [BRACKET RUNG] ATTEMPT WORKER, then one column
// per param (names sorted), then REASON when a trial FAILED (the first line of its
// fail_reason), by number. BRACKET and RUNG only when a trial has a bracket (Hyperband,
// ASHA); INTERMEDIATE (the last 8 epochs' objective) when the trials carry their per-epoch
// values (trials --intermediate). A RUNNING trial's WORKER adds "silent 12s" when its last heartbeat is older than
// kSilentAfterSeconds at `now` (0: not shown). Floats with 4 significant digits.
std::string TrialsTable(std::vector<v1::Trial> trials, double now = 0);

// `tunectl best`: per trial, best first: "#1  trial 17 (number 16)  value 0.9123" then its
// params and metrics lines.
std::string BestTrialsText(const std::vector<v1::Trial>& trials);

// Estimated time left: the study's epochs left over the rate its epochs were trained at since
// it was created (tunectl/eta.h); from a server without epoch counts, the trials left over
// the completion rate. "3m05s"; "?" while nothing was trained or the plan is unknown; "-"
// once the study ended.
std::string FormatEta(const v1::Study& study, double now);

// What StudySummary shows beyond the study itself.
struct SummaryOptions {
  std::string eta;       // the ETA text; empty: FormatEta(study, now)
  int width = 0;         // terminal columns: the progress bar shrinks to fit (0: no limit)
  std::string failure;   // a failed trial and its reason, for the "failed" line
};

// The study summary of `tunectl status`, `watch --once` and the live watch frame:
//   study 3 "cifar"  RUNNING  hyperband  maximize val_accuracy
//   progress  [####----]  52/143 done (36%)  elapsed 2m13s  ETA 3m05s
//   trials    done 52 (completed 20, pruned 32, failed 0, stopped 0)  running 4  pending 80 ...
//   best      0.9123  trial 17 (number 16)  dropout=0.3 units=256
//             metrics val_accuracy=0.9123 val_loss=0.2100
//   brackets  (Hyperband; RUNG: the rung being worked on, 0-based, of RUNGS)
//     BRACKET  RUNG  RUNGS  TRIALS  FINISHED  PROGRESS
//           0     2      5      81        60  [##############------]
// One string per line, without '\n'.
// A study whose finished trials all failed gets a "failed" line (with options.failure).
std::vector<std::string> StudySummary(const v1::Study& study, double now,
                                      const SummaryOptions& options = {});

// One line for a trial event: "trial 17 (number 16) RUNNING  epoch 3/9  value 0.8123
// worker w1  dropout=0.3 units=256" (parts that do not apply are left out).
std::string TrialLine(const v1::Trial& trial);

// One line for a study snapshot: "study 3 RUNNING  52/143 done  running 4  pending 80  paused 7
// failed 0  best 0.9123 (trial 17)  ETA 3m05s".
// eta: the ETA text; empty: FormatEta(study, now).
std::string StudyLine(const v1::Study& study, double now, const std::string& eta = "");

// Local wall-clock time of day: "10:12:03".
std::string FormatClock(double unix_seconds);

// A watch event as one line, prefixed with the local time: "10:12:03 trial 17 ...".
std::string EventLine(const v1::StudyEvent& event, double now, const std::string& eta = "");

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_STUDY_VIEW_H_
