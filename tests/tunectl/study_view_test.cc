// tunectl/study_view.h, json_view.h and watch_screen.h: what people and scripts read.
#include "tunectl/study_view.h"

#include <sstream>

#include "gtest/gtest.h"
#include "tests/tunectl/fake_study_service.h"
#include "tunectl/json_view.h"
#include "tunectl/watch_screen.h"

namespace tuner::tunectl {
namespace {

using testing::MakeTrial;

v1::Study HyperbandStudy() {
  v1::Study study;
  study.set_study_id(7);
  study.set_name("hb");
  study.set_state(v1::STUDY_RUNNING);
  study.set_algorithm("hyperband");
  study.set_objective_metric("val_accuracy");
  study.set_direction(v1::MAXIMIZE);
  study.set_planned_trials(143);
  study.set_created_at(1000);
  (*study.mutable_trial_counts())["COMPLETED"] = 20;
  (*study.mutable_trial_counts())["PRUNED"] = 32;
  (*study.mutable_trial_counts())["RUNNING"] = 4;
  (*study.mutable_trial_counts())["PENDING"] = 80;
  (*study.mutable_trial_counts())["PAUSED"] = 7;
  study.set_has_best(true);
  v1::Trial best = MakeTrial(17, 7, 16, v1::COMPLETED, 256, 0.3, "adam", 0.00123);
  best.set_has_value(true);
  best.set_value(0.91234);
  (*best.mutable_metrics())["val_loss"] = 0.21;
  *study.mutable_best_trial() = best;
  v1::BracketProgress* b = study.add_brackets();
  b->set_bracket(0);
  b->set_rung(2);
  b->set_rungs(5);
  b->set_trials(81);
  b->set_finished(60);
  return study;
}

TEST(TrialsTable, HasOneColumnPerParamAndSortsByNumber) {
  v1::Trial a = MakeTrial(12, 1, 1, v1::RUNNING, 128, 0.2, "rmsprop", 1e-05);
  a.set_epochs_done(2);
  a.set_attempt(1);
  a.set_worker_name("w1");
  v1::Trial b = MakeTrial(11, 1, 0, v1::COMPLETED, 256, 0.3, "adam", 0.00123);
  b.set_has_value(true);
  b.set_value(0.91234);
  b.set_epochs_done(4);
  b.set_attempt(2);
  b.set_worker_name("w2");
  EXPECT_EQ(TrialsTable({a, b}),
            "NUMBER  ID  STATE       VALUE  EPOCHS  ATTEMPT  WORKER  dropout  learning_rate  "
            "optimizer  units\n"
            "     0  11  COMPLETED  0.9123     4/4        2  w2      0.3      0.00123        "
            "adam       256\n"
            "     1  12  RUNNING         -     2/4        1  w1      0.2      1e-05          "
            "rmsprop    128\n");
}

TEST(StudiesTable, ShowsDoneOfPlannedAndBest) {
  v1::Study study = HyperbandStudy();
  study.set_created_at(0);  // "-": keeps the test independent of the time zone
  const std::string table = StudiesTable({study});
  EXPECT_EQ(table,
            "ID  NAME  STATE    ALGORITHM  TRIALS    BEST  CREATED\n"
            " 7  hb    RUNNING  hyperband  52/143  0.9123  -\n");
}

TEST(StudySummary, ShowsProgressCountsBestAndBrackets) {
  const std::vector<std::string> lines = StudySummary(HyperbandStudy(), 1000 + 100);
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[0], "study 7 \"hb\"  RUNNING  hyperband  maximize val_accuracy");
  // 52 done in 100 s: 91 left at 0.52 trials/s is 175 s.
  EXPECT_EQ(lines[1], "progress  [##########--------------------]  52/143 done (36%)  elapsed 1m40s"
                      "  ETA 2m55s");
  EXPECT_EQ(lines[2], "trials    done 52 (completed 20, pruned 32, failed 0, stopped 0)  running 4"
                      "  pending 80  paused 7");
  EXPECT_EQ(lines[3], "best      0.9123  trial 17 (number 16)  dropout=0.3 learning_rate=0.00123 "
                      "optimizer=adam units=256");
  EXPECT_EQ(lines[4], "          metrics val_loss=0.2100");
  EXPECT_EQ(lines[6], "  BRACKET  RUNG  RUNGS  TRIALS  FINISHED  PROGRESS");
  EXPECT_EQ(lines[7], "        0     2      5      81        60  [##############------]");
}

TEST(StudySummary, NamesTheBracketColumnsForHyperbandAndAsha) {
  v1::Study study = HyperbandStudy();
  EXPECT_EQ(StudySummary(study, 1100)[5].rfind("brackets  (Hyperband; RUNG: the rung being", 0), 0u);
  study.set_algorithm("asha");
  EXPECT_EQ(StudySummary(study, 1100)[5],
            "brackets  (ASHA; RUNG: the highest rung reached, 0-based, of RUNGS; TRIALS: "
            "configurations started so far)");
}

TEST(StudySummary, SaysWhenNothingCompletedYet) {
  v1::Study study;
  study.set_state(v1::STUDY_RUNNING);
  const std::vector<std::string> lines = StudySummary(study, 0);
  EXPECT_EQ(lines[3], "best      - (no completed trial yet)");
}

TEST(FormatEta, IsUnknownUntilATrialIsDoneAndEmptyOnceEnded) {
  v1::Study study = HyperbandStudy();
  EXPECT_EQ(FormatEta(study, 1000 + 100), "2m55s");
  study.clear_trial_counts();
  EXPECT_EQ(FormatEta(study, 1100), "?");
  study.set_state(v1::STUDY_COMPLETED);
  EXPECT_EQ(FormatEta(study, 1100), "-");
}

TEST(EventLine, DescribesTrialUpdatesAndSnapshots) {
  v1::StudyEvent event;
  event.set_kind(v1::StudyEvent::TRIAL_UPDATED);
  *event.mutable_trial() = MakeTrial(13, 1, 2, v1::RUNNING, 512, 0.5, "adam", 0.01);
  event.mutable_trial()->set_epochs_done(2);
  event.mutable_trial()->set_worker_name("w1");
  EXPECT_EQ(EventLine(event, 0).substr(9),
            "trial 13 (number 2) RUNNING  epoch 2/4  worker w1  dropout=0.5 learning_rate=0.01 "
            "optimizer=adam units=512");

  event.set_kind(v1::StudyEvent::SNAPSHOT);
  *event.mutable_study() = HyperbandStudy();
  EXPECT_EQ(EventLine(event, 1100).substr(9),
            "study 7 RUNNING  52/143 done  running 4  pending 80  paused 7  failed 0  best 0.9123 "
            "(trial 17)  ETA 2m55s");
  event.set_kind(v1::StudyEvent::STUDY_FINISHED);
  event.mutable_study()->set_state(v1::STUDY_COMPLETED);
  EXPECT_NE(EventLine(event, 1100).find("study 7 COMPLETED"), std::string::npos);
}

TEST(TrialJson, UsesNativeTypesForParams) {
  v1::Trial trial = MakeTrial(11, 1, 0, v1::COMPLETED, 256, 0.3, "adam", 0.00123);
  trial.set_has_value(true);
  trial.set_value(0.9);
  (*trial.mutable_metrics())["val_loss"] = 0.2;
  const Json json = TrialJson(trial);
  EXPECT_EQ(json["trial_id"], 11);
  EXPECT_EQ(json["state"], "COMPLETED");
  EXPECT_TRUE(json["params"]["units"].is_number_integer());
  EXPECT_TRUE(json["params"]["dropout"].is_number_float());
  EXPECT_TRUE(json["params"]["optimizer"].is_string());
  EXPECT_EQ(json["params"].dump(),
            R"({"dropout":0.3,"learning_rate":0.00123,"optimizer":"adam","units":256})");
  EXPECT_EQ(json["value"], 0.9);
  EXPECT_EQ(json["metrics"]["val_loss"], 0.2);
}

TEST(TrialJson, ValueIsNullWithoutOne) {
  const Json json = TrialJson(MakeTrial(1, 1, 0, v1::PENDING, 1, 0.1, "a", 0.1));
  EXPECT_TRUE(json["value"].is_null());
  EXPECT_TRUE(json["started_at"].is_null());
}

TEST(StudyJson, NamesStatesAsTheProtoDoes) {
  const Json json = StudyJson(HyperbandStudy());
  EXPECT_EQ(json["state"], "STUDY_RUNNING");
  EXPECT_EQ(json["direction"], "MAXIMIZE");
  EXPECT_EQ(json["done_trials"], 52);
  EXPECT_EQ(json["trial_counts"]["PRUNED"], 32);
  EXPECT_EQ(json["best_trial"]["trial_id"], 17);
  EXPECT_EQ(json["brackets"][0]["finished"], 60);
}

TEST(WatchScreen, PrintsOneLinePerEventWhenNotLive) {
  std::ostringstream out;
  WatchScreen screen(out, /*live=*/false, [] { return 80; });
  v1::StudyEvent event;
  event.set_kind(v1::StudyEvent::TRIAL_UPDATED);
  *event.mutable_trial() = MakeTrial(13, 1, 2, v1::RUNNING, 512, 0.5, "adam", 0.01);
  screen.Show(event, 0);
  event.set_kind(v1::StudyEvent::SNAPSHOT);
  *event.mutable_study() = HyperbandStudy();
  screen.Show(event, 1100);
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_EQ(text.find("\x1b"), std::string::npos);
}

TEST(WatchScreen, RedrawsTheFrameInPlaceWhenLive) {
  std::ostringstream out;
  WatchScreen screen(out, /*live=*/true, [] { return 60; });
  v1::StudyEvent event;
  event.set_kind(v1::StudyEvent::SNAPSHOT);
  *event.mutable_study() = HyperbandStudy();
  screen.Show(event, 1100);
  const std::string first = out.str();
  EXPECT_EQ(first.rfind("\x1b[J", 0), 0u);  // the first frame only clears below
  // Every line fits the 60 columns, so nothing wraps.
  size_t start = 3;
  while (start < first.size()) {
    const size_t end = first.find('\n', start);
    EXPECT_LE(end - start, 59u);
    start = end + 1;
  }
  out.str("");
  v1::StudyEvent trial;
  trial.set_kind(v1::StudyEvent::TRIAL_UPDATED);
  *trial.mutable_trial() = MakeTrial(13, 7, 2, v1::RUNNING, 512, 0.5, "adam", 0.01);
  screen.Show(trial, 1100);
  EXPECT_EQ(out.str(), "");  // waits for the snapshot that follows
  screen.Show(event, 1101);
  // Moves up over the lines drawn (the 8 lines of the summary, the long ones wrapped to the 60
  // columns), then draws the summary, "recent" and the trial.
  const std::string up =
      "\r\x1b[" + std::to_string(std::count(first.begin(), first.end(), '\n')) + "A\x1b[J";
  EXPECT_GT(std::count(first.begin(), first.end(), '\n'), 8);
  EXPECT_EQ(out.str().rfind(up, 0), 0u);
  EXPECT_NE(out.str().find("recent\n  "), std::string::npos);
  EXPECT_NE(out.str().find("trial 13 (number 2) RUNNING"), std::string::npos);
}

}  // namespace
}  // namespace tuner::tunectl
