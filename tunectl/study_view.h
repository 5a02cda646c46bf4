// Views of studies, trials and watch events for people: the text tunectl prints. Pure functions
// of the protos and a "now" passed in (unix seconds), so each is unit-tested.
#ifndef TUNER_TUNECTL_STUDY_VIEW_H_
#define TUNER_TUNECTL_STUDY_VIEW_H_

#include <string>
#include <vector>

#include "proto/tuner.pb.h"

namespace tuner::tunectl {

namespace v1 = ::tuner::v1;

// `tunectl studies`: ID NAME STATE ALGORITHM TRIALS BEST CREATED, by id.
std::string StudiesTable(std::vector<v1::Study> studies);

// `tunectl trials`: NUMBER ID STATE VALUE EPOCHS ATTEMPT WORKER, then one column per param
// (names sorted), by number.
std::string TrialsTable(std::vector<v1::Trial> trials);

// `tunectl best`: per trial, best first: "#1  trial 17 (number 16)  value 0.9123" then its
// params and metrics lines.
std::string BestTrialsText(const std::vector<v1::Trial>& trials);

// Estimated time left from the completion rate since the study was created:
// "3m05s"; "?" while no trial is done or the plan is unknown; "-" once the study ended.
std::string FormatEta(const v1::Study& study, double now);

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
std::vector<std::string> StudySummary(const v1::Study& study, double now);

// One line for a trial event: "trial 17 (number 16) RUNNING  epoch 3/9  value 0.8123
// worker w1  dropout=0.3 units=256" (parts that do not apply are left out).
std::string TrialLine(const v1::Trial& trial);

// One line for a study snapshot: "study 3 RUNNING  52/143 done  running 4  pending 80  paused 7
// failed 0  best 0.9123 (trial 17)  ETA 3m05s".
std::string StudyLine(const v1::Study& study, double now);

// Local wall-clock time of day: "10:12:03".
std::string FormatClock(double unix_seconds);

// A watch event as one line, prefixed with the local time: "10:12:03 trial 17 ...".
std::string EventLine(const v1::StudyEvent& event, double now);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_STUDY_VIEW_H_
