// What issue 17 asked of tunectl's output: failures shown (REASON, FAILED studies), BRACKET and
// RUNG columns, short floats in tables, --format csv|json|yaml, `workers`, --version and clear
// messages for bad -k / --timeout values.
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tunectl/fake_study_service.h"
#include "tests/tunectl/run_cli.h"
#include "tunectl/commands.h"
#include "tunectl/format.h"
#include "tunectl/json_view.h"
#include "tunectl/report.h"
#include "tunectl/study_view.h"
#include "tunectl/trials_export.h"

namespace tuner::tunectl {
namespace {

using testing::MakeTrial;

v1::Trial Failed(int64_t id, int64_t number, const std::string& worker, const std::string& why) {
  v1::Trial t = MakeTrial(id, 5, number, v1::FAILED, 128, 0.2, "adam", 0.001);
  t.set_attempt(3);
  t.set_worker_name(worker);
  t.set_fail_reason(why);
  t.set_finished_at(2000 + number);
  return t;
}

// Study 5 "broken": TPE + median, ended with its 3 trials FAILED.
void AddBrokenStudy(testing::FakeStudyService& service) {
  v1::Study study;
  study.set_study_id(5);
  study.set_name("broken");
  study.set_state(v1::STUDY_COMPLETED);
  study.set_algorithm("random");
  study.set_sampler("tpe");
  study.set_pruner("median");
  study.set_objective_metric("val_accuracy");
  study.set_direction(v1::MAXIMIZE);
  study.set_planned_trials(3);
  study.set_created_at(1'700'000'000);
  service.AddStudy(study, {Failed(51, 0, "w1", "trainer: no such dataset /data/x"),
                           Failed(52, 1, "w2", "lease expired: worker w2 stopped heartbeating"),
                           Failed(53, 2, "w1", "trainer: no such dataset /data/x\nat line 3")});
}

class OutputTest : public ::testing::Test {
 protected:
  CliResult Run(std::vector<std::string> args) { return RunCliAgainst(server_.address(), args); }
  testing::FakeServer server_;
};

TEST_F(OutputTest, FailedTrialsShowTheirWorkerAndReason) {
  AddBrokenStudy(server_.service());
  const CliResult r = Run({"trials", "broken", "--state", "failed"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "NUMBER  ID  STATE   VALUE  EPOCHS  ATTEMPT  WORKER  dropout  learning_rate  optimizer  "
            "units  REASON\n"
            "     0  51  FAILED      -     0/4        3  w1      0.2      0.001          adam       "
            "128    trainer: no such dataset /data/x\n"
            "     1  52  FAILED      -     0/4        3  w2      0.2      0.001          adam       "
            "128    lease expired: worker w2 stopped heartbeating\n"
            "     2  53  FAILED      -     0/4        3  w1      0.2      0.001          adam       "
            "128    trainer: no such dataset /data/x\n");
}

TEST_F(OutputTest, AStudyWhoseEveryTrialFailedSaysSo) {
  AddBrokenStudy(server_.service());
  const CliResult studies = Run({"studies"});
  ASSERT_EQ(studies.code, kExitOk) << studies.err;
  EXPECT_NE(studies.out.find(" 5  broken  FAILED   tpe+median     3/3       -"),
            std::string::npos)
      << studies.out;
  const CliResult status = Run({"status", "broken"});
  ASSERT_EQ(status.code, kExitOk) << status.err;
  EXPECT_NE(status.out.find("study 5 \"broken\"  FAILED  tpe+median  maximize val_accuracy"),
            std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("failed    every trial failed (3 of 3); trial 53 (number 2) on w1: "
                            "trainer: no such dataset /data/x\n"
                            "          tunectl trials 5 --state failed shows each reason"),
            std::string::npos)
      << status.out;
  const CliResult once = Run({"watch", "broken", "--once"});
  EXPECT_EQ(once.code, kExitError);
  const CliResult json = Run({"status", "broken", "--json"});
  EXPECT_EQ(nlohmann::json::parse(json.out)["all_trials_failed"], true);
  EXPECT_EQ(nlohmann::json::parse(json.out)["sampler"], "tpe");
}

TEST_F(OutputTest, AnEmptyFilterSaysWhatWasAskedFor) {
  const CliResult r = Run({"trials", "cifar", "--state", "failed,pruned"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "study 1 has no trials in state failed, pruned\n");
}

TEST_F(OutputTest, TrialsExportAsCsvJsonAndYaml) {
  const CliResult csv = Run({"trials", "cifar", "--format", "csv"});
  ASSERT_EQ(csv.code, kExitOk) << csv.err;
  std::istringstream lines(csv.out);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_EQ(header,
            "number,trial_id,state,value,epochs_done,budget_epochs,bracket,rung,attempt,"
            "worker_name,created_at,started_at,finished_at,params_dropout,params_learning_rate,"
            "params_optimizer,params_units,metrics_val_accuracy,metrics_val_loss,fail_reason\r");
  EXPECT_EQ(first, "0,11,COMPLETED,0.9123,4,4,-1,0,1,w2,,,,0.3,0.00123,adam,256,0.9123,0.25,\r");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 4);

  const CliResult json = Run({"trials", "cifar", "-f", "json"});
  const CliResult legacy = Run({"trials", "cifar", "--json"});
  EXPECT_EQ(json.out, legacy.out);
  const CliResult yaml = Run({"trials", "cifar", "--format", "yaml"});
  ASSERT_EQ(yaml.code, kExitOk) << yaml.err;
  EXPECT_EQ(yaml.out.rfind("study_id: 1\ntrials:\n  - trial_id: 11\n    study_id: 1\n", 0), 0u)
      << yaml.out;
  EXPECT_NE(yaml.out.find("    params:\n      dropout: 0.3\n"), std::string::npos) << yaml.out;

  const CliResult bad = Run({"trials", "cifar", "--format", "xml"});
  EXPECT_EQ(bad.code, kExitUsage);
  const CliResult both = Run({"trials", "cifar", "--json", "--format", "csv"});
  EXPECT_EQ(both.code, kExitUsage);
  EXPECT_EQ(both.err, "error: --json and --format csv disagree: give one\n");
}

TEST_F(OutputTest, IntermediateValuesShowInTheTableToo) {
  const CliResult r = Run({"trials", "cifar", "--intermediate"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("INTERMEDIATE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  adam       256    0.5\n"), std::string::npos) << r.out;
}

TEST_F(OutputTest, WorkersListsEachWorkerAndItsTrial) {
  v1::Worker busy;
  busy.set_worker_id(1);
  busy.set_name("w1");
  busy.set_host("node-1");
  busy.add_devices("cpu");
  busy.set_study_id(1);
  busy.set_trial_id(13);
  busy.set_trial_number(2);
  busy.set_last_seen_at(1);  // long ago
  busy.set_registered_at(1);
  v1::Worker idle;
  idle.set_worker_id(2);
  idle.set_name("w2");
  server_.service().SetWorkers({busy, idle});
  const CliResult r = Run({"workers"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "ID  NAME  HOST    DEVICES  RUNNING                      LAST SEEN      REGISTERED");
  EXPECT_NE(r.out.find(" 1  w1    node-1  cpu      study 1 trial 13 (number 2)  "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" 2  w2    -       -        -  "), std::string::npos) << r.out;
  const CliResult json = Run({"workers", "--json"});
  const nlohmann::json parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["workers"][0]["trial_id"], 13);
  EXPECT_TRUE(parsed["workers"][1]["trial_id"].is_null());
  server_.service().SetWorkers({});
  EXPECT_NE(Run({"workers"}).out.find("no trial-worker has registered"), std::string::npos);
}

TEST_F(OutputTest, DeleteRemovesAnEndedStudyAndRefusesARunningOne) {
  const CliResult running = Run({"delete", "cifar"});
  EXPECT_EQ(running.code, kExitError);
  EXPECT_EQ(running.err,
            "error: study 1 is running: stop it first (tunectl stop 1), then delete it\n");
  ASSERT_EQ(Run({"stop", "cifar"}).code, kExitOk);
  const CliResult deleted = Run({"delete", "cifar"});
  ASSERT_EQ(deleted.code, kExitOk) << deleted.err;
  EXPECT_EQ(deleted.out,
            "deleted study 1 \"cifar\" with 3 trials, 0 checkpoints and 0 ensembles\n");
  EXPECT_EQ(Run({"status", "1"}).err, "error: study 1 not found\n");
  EXPECT_EQ(Run({"studies"}).out.find("cifar"), std::string::npos);
}

// Runs bash with the completion loaded and COMP_WORDS = words (the last one being
// completed); returns COMPREPLY, one word a line.
std::string Complete(const std::string& completion, const std::string& words) {
  const std::string path = ::testing::TempDir() + "/tunectl-completion.bash";
  FILE* file = std::fopen(path.c_str(), "w");
  std::fputs(completion.c_str(), file);
  std::fclose(file);
  const std::string command = "bash -c 'source " + path + "; COMP_WORDS=(" + words +
                              "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _tunectl; "
                              "printf \"%s\\n\" \"${COMPREPLY[@]}\"'";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  pclose(pipe);
  return out;
}

TEST(Output, BashCompletionIsGeneratedFromTheFlags) {
  const CliResult r = RunCli({"completion", "bash"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("complete -F _tunectl tunectl"), std::string::npos);
  EXPECT_EQ(Complete(r.out, "tunectl tri"), "trials\n");
  EXPECT_EQ(Complete(r.out, "tunectl trials 3 --state comp"), "completed\n");
  EXPECT_EQ(Complete(r.out, "tunectl trials 3 --form"), "--format\n");
  EXPECT_EQ(Complete(r.out, "tunectl --server host:1 trials 3 -f c"), "csv\n");
  EXPECT_EQ(Complete(r.out, "tunectl best 3 --js"), "--json\n");
  EXPECT_EQ(RunCli({"completion", "zsh"}).code, kExitOk);
  EXPECT_EQ(RunCli({"completion", "fish"}).code, kExitUsage);
}

TEST(Output, TheManPageListsEveryCommandAndOption) {
  const CliResult r = RunCli({"man"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out.find(".TH TUNECTL 1"), r.out.find('\n') + 1) << r.out.substr(0, 200);
  for (const char* command : {"start-study", "studies", "status", "trials", "best", "watch",
                              "stop", "enqueue", "ensemble", "report", "delete", "workers"}) {
    std::string roff;  // a "-" is "\-" in roff
    for (const char* c = command; *c != 0; ++c) roff += *c == '-' ? std::string("\\-") : std::string(1, *c);
    EXPECT_NE(r.out.find(".SS \\fBtunectl " + roff + "\\fR"), std::string::npos) << command;
  }
  EXPECT_NE(r.out.find("\\fB\\-\\-format\\fR, \\fB\\-f\\fR"), std::string::npos);
  EXPECT_NE(r.out.find("\\fBTUNER_SERVER\\fR"), std::string::npos);
}

TEST(Output, VersionAndBadNumbersAreClear) {
  CliResult r = RunCli({"--version"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out.rfind("tunectl ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find('.'), std::string::npos) << r.out;
  r = RunCli({"best", "1", "-k", "abc"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("must be an integer from 1 to 10000 (got \"abc\")"), std::string::npos)
      << r.err;
  r = RunCli({"--timeout", "0", "studies"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("must be more than 0 seconds (got 0)"), std::string::npos) << r.err;
  EXPECT_LT(r.err.size(), 120u) << r.err;
}

TEST(TrialsTable, HyperbandTrialsShowBracketAndRungAndASilentWorker) {
  v1::Trial a = MakeTrial(11, 1, 0, v1::RUNNING, 256, 0.3, "adam", 0.0012345678);
  a.set_bracket(1);
  a.set_rung(2);
  a.set_epochs_done(5);
  a.set_budget_epochs(9);
  a.set_attempt(1);
  a.set_worker_name("w1");
  a.set_heartbeat_at(1000);
  EXPECT_EQ(TrialsTable({a}, 1000 + 20),
            "NUMBER  ID  STATE    VALUE  EPOCHS  BRACKET  RUNG  ATTEMPT  WORKER           "
            "dropout  learning_rate  optimizer  units\n"
            "     0  11  RUNNING      -     5/9        1     2        1  w1 (silent 20s)  "
            "0.3      0.001235       adam       256\n");
  // Heard from 5 s ago: nothing to say.
  EXPECT_EQ(TrialsTable({a}, 1005).find("silent"), std::string::npos);
}

TEST(AlgorithmLabel, NamesTheSamplerAndThePruner) {
  v1::Study s;
  s.set_algorithm("random");
  EXPECT_EQ(AlgorithmLabel(s), "random");
  s.set_sampler("random");
  s.set_pruner("none");
  EXPECT_EQ(AlgorithmLabel(s), "random");
  s.set_sampler("tpe");
  s.set_pruner("median");
  EXPECT_EQ(AlgorithmLabel(s), "tpe+median");
  s.set_algorithm("hyperband");
  s.set_pruner("none");
  EXPECT_EQ(AlgorithmLabel(s), "hyperband+tpe");
}

TEST(AlgorithmLabel, TheReportHeaderNamesTheSamplerAndPrunerToo) {
  v1::Study s;
  s.set_study_id(5);
  s.set_algorithm("random");
  s.set_sampler("tpe");
  s.set_pruner("median");
  const std::string html = StudyReportHtml(s, {}, {});
  EXPECT_NE(html.find("study 5 &middot; tpe+median &middot;"), std::string::npos);
}

TEST(FormatParamShort, KeepsFourSignificantDigits) {
  EXPECT_EQ(FormatParamShort(testing::FloatParam(0.0012345678)), "0.001235");
  EXPECT_EQ(FormatParamShort(testing::FloatParam(0.3)), "0.3");
  EXPECT_EQ(FormatParamShort(testing::FloatParam(2.0)), "2.0");
  EXPECT_EQ(FormatParamShort(testing::FloatParam(1.23456e-05)), "1.235e-05");
  EXPECT_EQ(FormatParamShort(testing::IntParam(123456)), "123456");
  EXPECT_EQ(FormatParamShort(testing::StringParam("adam")), "adam");
}

TEST(FitWords, CutsAtAWordAndMarksIt) {
  EXPECT_EQ(FitWords("alpha beta gamma", 80), "alpha beta gamma");
  EXPECT_EQ(FitWords("alpha beta gamma", 14), "alpha beta\u2026");
  EXPECT_EQ(FitWords("alphabetagamma", 8), "alphab\u2026");
}

TEST(WrapWords, BreaksAtSpacesUnderAnIndent) {
  EXPECT_EQ(WrapWords("best      0.9 units=256 dropout=0.3 lr=0.001", 25, 10),
            (std::vector<std::string>{"best      0.9 units=256", "          dropout=0.3",
                                      "          lr=0.001"}));
  EXPECT_EQ(WrapWords("short", 80, 10), std::vector<std::string>{"short"});
}

TEST(TrialsCsv, QuotesCellsThatNeedIt) {
  v1::Trial t = MakeTrial(1, 1, 0, v1::FAILED, 128, 0.25, "a,b", 0.001);
  t.set_fail_reason("said \"no\"\nthen died");
  const std::string csv = TrialsCsv({t}, false);
  EXPECT_NE(csv.find(",\"a,b\",128,\"said \"\"no\"\"\nthen died\"\r\n"), std::string::npos) << csv;
}

}  // namespace
}  // namespace tuner::tunectl
