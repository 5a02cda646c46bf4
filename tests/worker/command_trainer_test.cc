// CommandTrainer with real programs (/usr/bin/python3 and /bin/sh): reports from stdout and
// from TUNER_REPORT_FD with `continue` / `stop` answers, the TUNER_* environment, stops that
// reach the whole process group, checkpoints that resume, and every bad program's reason.
#include "trial-worker/command_trainer.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/recording_context.h"

namespace tuner::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Running (not a zombie that the container's init has yet to reap), waiting up to 2 s for a
// SIGKILL just sent to take effect.
bool Alive(pid_t pid) {
  for (int i = 0; i < 100; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_text, name, state;
    if (!(stat >> pid_text >> name >> state) || state == "Z" || state == "X") return false;
    usleep(20000);
  }
  return true;
}

class CommandTrainerTest : public ::testing::Test {
 protected:
  // A Python program at tmp/NAME; `body` runs after `import json, os, sys, time`.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = tmp_.File(name);
    std::ofstream(path) << "#!/usr/bin/python3\nimport json, os, signal, sys, time\n" << body;
    chmod(path.c_str(), 0755);
    return path;
  }
  TrialAssignment Assignment(nlohmann::json trainer, int budget = 3) {
    TrialAssignment a;
    a.study_id = 3;
    a.trial_id = 7;
    a.params = {{"lr", 0.01}, {"units", int64_t{64}}};
    trainer["kind"] = "command";
    a.trainer_config = trainer;
    a.objective_metric = "val_accuracy";
    a.budget_epochs = budget;
    a.seed = 42;
    a.work_dir = tmp_.File("work");
    a.log_dir = tmp_.File("logs");
    return a;
  }
  absl::StatusOr<TrainResult> Train(const TrialAssignment& a, testing::RecordingContext& ctx) {
    CommandTrainer trainer;
    return trainer.Train(a, ctx);
  }
  std::string StdoutLog() { return Read(tmp_.File("logs/study-3-trial-7.stdout.log")); }

  testing::TempDir tmp_;
};

constexpr char kEpochs[] = R"PY(
start = int(os.environ["TUNER_START_EPOCH"])
for epoch in range(start + 1, int(os.environ["TUNER_BUDGET_EPOCHS"]) + 1):
    print(json.dumps({"epoch": epoch, "val_accuracy": 0.5 + 0.1 * epoch - (0.25 if epoch == 3 else 0), "loss": 1.0 / epoch}))
)PY";

TEST_F(CommandTrainerTest, StdoutJsonLinesAreReportsAndTheProgramSeesItsTrial) {
  setenv("TUNER_TOKEN", "worker-secret", 1);
  const std::string script = Script("train.py", std::string(R"PY(
with open(sys.argv[2], "w") as f:
    json.dump({k: v for k, v in os.environ.items() if k.startswith("TUNER_")}, f)
    f.write("\n" + sys.argv[1] + " " + os.getcwd() + " " + os.environ["UNITS"] + "\n")
    f.write(open(os.environ["TUNER_PARAMS_FILE"]).read())
print("Epoch 1/3 starting (log text is ignored)")
)PY") + kEpochs);
  fs::create_directories(tmp_.File("wd"));
  TrialAssignment a = Assignment({{"argv", {"python3", script, "--lr={lr}", tmp_.File("env.txt")}},
                                  {"env", {{"UNITS", "{units}"}}},
                                  {"workdir", tmp_.File("wd")}});
  testing::RecordingContext ctx;
  absl::StatusOr<TrainResult> result = Train(a, ctx);
  unsetenv("TUNER_TOKEN");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(ctx.reports.size(), 3u);
  EXPECT_EQ(ctx.reports[0].epoch, 1);
  EXPECT_DOUBLE_EQ(ctx.reports[0].value, 0.6);
  EXPECT_DOUBLE_EQ(ctx.reports[2].metrics.at("loss"), 1.0 / 3);
  EXPECT_EQ(result->epochs_done, 3);
  EXPECT_DOUBLE_EQ(result->value, 0.7);  // objective.reduce best: epoch 2
  EXPECT_DOUBLE_EQ(result->metrics.at("loss"), 0.5);
  EXPECT_FALSE(result->stopped);

  std::ifstream in(tmp_.File("env.txt"));
  std::string first;
  std::getline(in, first);
  const nlohmann::json env = nlohmann::json::parse(first);
  EXPECT_EQ(env.at("TUNER_TRIAL_ID"), "7");
  EXPECT_EQ(env.at("TUNER_EXECUTION"), "0");
  EXPECT_EQ(env.at("TUNER_SEED"), "42");
  EXPECT_EQ(env.at("TUNER_START_EPOCH"), "0");
  EXPECT_EQ(env.at("TUNER_BUDGET_EPOCHS"), "3");
  EXPECT_EQ(env.at("TUNER_REPORT_FD"), "3");
  EXPECT_EQ(env.at("TUNER_REPLY_FD"), "4");
  EXPECT_EQ(nlohmann::json::parse(env.at("TUNER_PARAMS").get<std::string>()),
            nlohmann::json::parse(R"({"lr": 0.01, "units": 64})"));
  EXPECT_TRUE(env.contains("TUNER_CHECKPOINT_DIR") && env.contains("TUNER_RESUME_DIR"));
  EXPECT_FALSE(env.contains("TUNER_TOKEN")) << "the worker's own settings must not leak";
  std::string second;
  std::getline(in, second);
  EXPECT_EQ(second, "--lr=0.01 " + tmp_.File("wd") + " 64");
  EXPECT_THAT(StdoutLog(), HasSubstr("Epoch 1/3 starting"));
}

TEST_F(CommandTrainerTest, ReportFdGetsContinueThenStopAndTheProgramExitsByItself) {
  const std::string script = Script("fd.py", R"PY(
report = os.fdopen(int(os.environ["TUNER_REPORT_FD"]), "w", buffering=1)
reply = os.fdopen(int(os.environ["TUNER_REPLY_FD"]), "r")
for epoch in range(1, 10):
    report.write(json.dumps({"epoch": epoch, "val_accuracy": 0.1 * epoch}) + "\n")
    answer = reply.readline().strip()
    print("answer", epoch, answer)
    if answer == "stop":
        open(sys.argv[1], "w").write("stopped cleanly after %d" % epoch)
        sys.exit(0)
)PY");
  TrialAssignment a = Assignment({{"argv", {script, tmp_.File("marker")}}}, 9);
  testing::RecordingContext ctx(/*stop_after_reports=*/3);
  absl::StatusOr<TrainResult> result = Train(a, ctx);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ctx.reports.size(), 3u);
  EXPECT_TRUE(result->stopped);
  EXPECT_EQ(result->epochs_done, 3);  // the report answered stop is stored: epoch 3 is done
  EXPECT_EQ(Read(tmp_.File("marker")), "stopped cleanly after 3");
  EXPECT_THAT(StdoutLog(), HasSubstr("answer 1 continue"));
  EXPECT_THAT(StdoutLog(), HasSubstr("answer 3 stop"));
}

TEST_F(CommandTrainerTest, AStopReachesTheWholeGroupEvenWhenSigtermIsIgnored) {
  const std::string script = Script("stubborn.py", R"PY(
import subprocess
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "300"])
open(sys.argv[1], "w").write("%d %d" % (os.getpid(), child.pid))
for epoch in range(1, 100):
    print(json.dumps({"epoch": epoch, "val_accuracy": 0.5}))
    time.sleep(0.05)
)PY");
  TrialAssignment a = Assignment({{"argv", {script, tmp_.File("pids")}}, {"grace_seconds", 1}}, 50);
  testing::RecordingContext ctx(/*stop_after_reports=*/2);
  absl::StatusOr<TrainResult> result = Train(a, ctx);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->stopped);
  EXPECT_EQ(ctx.reports.size(), 2u);
  std::istringstream pids(Read(tmp_.File("pids")));
  pid_t leader = 0, child = 0;
  pids >> leader >> child;
  ASSERT_GT(child, 0);
  EXPECT_FALSE(Alive(leader));
  EXPECT_FALSE(Alive(child)) << "the program's own child must be stopped with it";
}

TEST_F(CommandTrainerTest, FailuresCarryTheExitStatusAndTheStderrTail) {
  const std::string crash = Script("crash.py", R"PY(
print(json.dumps({"epoch": 1, "val_accuracy": 0.5}))
raise ValueError("boom at epoch 2")
)PY");
  testing::RecordingContext ctx;
  absl::StatusOr<TrainResult> result = Train(Assignment({{"argv", {crash}}}), ctx);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);  // retried
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("exited with status 1"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("ValueError: boom at epoch 2"));
  EXPECT_THAT(Read(tmp_.File("logs/study-3-trial-7.stderr.log")), HasSubstr("Traceback"));

  const std::string usage = Script("usage.py", R"PY(
import argparse
argparse.ArgumentParser().parse_args(["--nope"])
)PY");
  result = Train(Assignment({{"argv", {usage}}}), ctx);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);  // not retried
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("status 2, a usage error"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("unrecognized arguments"));

  const std::string killed = Script("killed.py", "os.kill(os.getpid(), signal.SIGKILL)\n");
  result = Train(Assignment({{"argv", {killed}}}), ctx);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("killed by signal 9 (SIGKILL)"));
}

TEST_F(CommandTrainerTest, EachBadProgramGetsAClearReason) {
  testing::RecordingContext ctx;
  struct Case {
    nlohmann::json argv;
    absl::StatusCode code;
    std::string message;
  };
  const std::string garbage = Script("garbage.py", "print('\\x00\\xff garbage {{{ ]]')\n");
  const std::string unnamed = Script("unnamed.py", "print(json.dumps({'epoch': 1, 'acc': 0.9}))\n");
  const std::string nan = Script("nan.py", "print(json.dumps({'epoch': 1, 'val_accuracy': float('nan')}))\n");
  const std::string backwards = Script("back.py",
      "print(json.dumps({'epoch': 2, 'val_accuracy': 0.1}))\nprint(json.dumps({'epoch': 1, 'val_accuracy': 0.1}))\n");
  std::ofstream(tmp_.File("plain.txt")) << "not a program";
  const std::vector<Case> cases = {
      {{"no-such-program-xyz"}, absl::StatusCode::kNotFound, "\"no-such-program-xyz\" is not on this worker's PATH"},
      {{tmp_.File("missing.py")}, absl::StatusCode::kNotFound, "missing.py does not exist"},
      {{tmp_.File("plain.txt")}, absl::StatusCode::kFailedPrecondition, "is not executable"},
      {{garbage}, absl::StatusCode::kFailedPrecondition, "exited with status 0 without reporting val_accuracy"},
      {{unnamed}, absl::StatusCode::kInvalidArgument, "has no \"val_accuracy\" (the study's objective.metric); it has: acc"},
      {{nan}, absl::StatusCode::kFailedPrecondition, "val_accuracy as NaN"},
      {{backwards}, absl::StatusCode::kInvalidArgument, "epoch 1 after epoch 2"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TrainResult> result = Train(Assignment({{"argv", c.argv}}), ctx);
    EXPECT_EQ(result.status().code(), c.code) << c.argv << ": " << result.status();
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(c.message)) << c.argv;
  }
  absl::StatusOr<TrainResult> result = Train(Assignment({{"argv", {garbage}}}), ctx);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("garbage {{{ ]]"));
}

TEST_F(CommandTrainerTest, AHangIsKilledAtTheTimeoutAndAFullLogIsCapped) {
  const std::string hang = Script("hang.py", R"PY(
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(json.dumps({"epoch": 1, "val_accuracy": 0.5}))
time.sleep(300)
)PY");
  testing::RecordingContext ctx;
  absl::StatusOr<TrainResult> result = Train(
      Assignment({{"argv", {hang}}, {"timeout_seconds", 0.5}, {"grace_seconds", 0.3}}), ctx);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("still running after trainer.timeout_seconds (0.5 s)"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("SIGKILL"));

  const std::string chatty = Script("chatty.py", R"PY(
for i in range(20000):
    print("x" * 100)
print(json.dumps({"epoch": 1, "val_accuracy": 0.75}))
)PY");
  fs::remove_all(tmp_.File("logs"));
  result = Train(Assignment({{"argv", {chatty}}, {"log_max_bytes", 65536}}, 1), ctx);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_DOUBLE_EQ(result->value, 0.75);  // parsed although no longer logged
  const std::string log = StdoutLog();
  EXPECT_LT(log.size(), 66000u);
  EXPECT_THAT(log, HasSubstr("more bytes dropped: trainer.log_max_bytes is 65536"));
}

TEST_F(CommandTrainerTest, ACheckpointIsUploadedAndAPromotionResumesFromIt) {
  const std::string script = Script("ckpt.py", R"PY(
start = int(os.environ["TUNER_START_EPOCH"])
resume = os.path.join(os.environ["TUNER_RESUME_DIR"], "state.json")
weights = json.load(open(resume))["w"] if start > 0 else 0.0
with open(sys.argv[1], "a") as log:
    log.write("start %d weights %.1f\n" % (start, weights))
for epoch in range(start + 1, int(os.environ["TUNER_BUDGET_EPOCHS"]) + 1):
    weights += 1.0
    os.makedirs(os.path.join(os.environ["TUNER_CHECKPOINT_DIR"], "sub"), exist_ok=True)
    with open(os.path.join(os.environ["TUNER_CHECKPOINT_DIR"], "state.json"), "w") as f:
        json.dump({"w": weights, "epoch": epoch}, f)
    print(json.dumps({"epoch": epoch, "val_accuracy": 0.9 if epoch == 1 else 0.1 * epoch}))
)PY");
  TrialAssignment first = Assignment({{"argv", {script, tmp_.File("runs.txt")}}}, 1);
  first.checkpoint_out_path = tmp_.File("rung0.tar");
  testing::RecordingContext ctx1;
  absl::StatusOr<TrainResult> r1 = Train(first, ctx1);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_TRUE(r1->checkpoint_written);

  TrialAssignment second = Assignment({{"argv", {script, tmp_.File("runs.txt")}}}, 3);
  second.start_epoch = 1;
  second.resume_checkpoint_path = tmp_.File("rung0.tar");
  second.checkpoint_out_path = tmp_.File("rung1.tar");
  testing::RecordingContext ctx2;
  absl::StatusOr<TrainResult> r2 = Train(second, ctx2);
  ASSERT_TRUE(r2.ok()) << r2.status();
  ASSERT_EQ(ctx2.reports.size(), 2u);
  EXPECT_EQ(ctx2.reports[0].epoch, 2);  // epoch 1 is never reported again
  EXPECT_EQ(r2->epochs_done, 3);
  EXPECT_DOUBLE_EQ(r2->value, 0.9);  // best over all epochs, the one before the promotion too
  EXPECT_EQ(Read(tmp_.File("runs.txt")), "start 0 weights 0.0\nstart 1 weights 1.0\n");
}

TEST_F(CommandTrainerTest, AShellOneLinerWithAFinalLineAndRegexMetrics) {
  testing::RecordingContext ctx;
  absl::StatusOr<TrainResult> result = Train(
      Assignment({{"argv", {"sh", "-c",
                             "echo \"{\\\"val_accuracy\\\": $(awk 'BEGIN{print 1 - {lr}}')}\""}}},
                 1),
      ctx);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(ctx.reports.size(), 1u);
  EXPECT_EQ(result->epochs_done, 1);
  EXPECT_NEAR(result->value, 0.99, 1e-9);

  testing::RecordingContext ctx2;
  result = Train(Assignment({{"argv", {"sh", "-c", "for e in 1 2; do echo \"epoch $e: loss=0.$e\"; echo \"acc=0.$((e + 5))\"; done"}},
                             {"metrics", {{"format", "regex"}}}}, 2),
                 ctx2);
  ASSERT_FALSE(result.ok());  // the objective is val_accuracy; the program prints acc
  TrialAssignment a = Assignment({{"argv", {"sh", "-c", "for e in 1 2; do echo \"epoch $e: loss=0.$e\"; echo \"acc=0.$((e + 5))\"; done"}},
                                  {"metrics", {{"format", "regex"}}}}, 2);
  a.objective_metric = "acc";
  testing::RecordingContext ctx3;
  result = Train(a, ctx3);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(ctx3.reports.size(), 2u);
  EXPECT_EQ(ctx3.reports[1].epoch, 2);
  EXPECT_DOUBLE_EQ(ctx3.reports[1].value, 0.7);
  EXPECT_DOUBLE_EQ(ctx3.reports[1].metrics.at("loss"), 0.2);
}

TEST_F(CommandTrainerTest, ExecutionsRunOneAfterAnotherWithTheirOwnSeeds) {
  const std::string script = Script("seeds.py", R"PY(
seed = int(os.environ["TUNER_SEED"])
print(json.dumps({"epoch": 1, "val_accuracy": 0.5 + (seed - 42) * 0.1}))
)PY");
  TrialAssignment a = Assignment({{"argv", {script}}}, 1);
  a.executions = 2;
  testing::RecordingContext ctx;
  absl::StatusOr<TrainResult> result = Train(a, ctx);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(ctx.reports.size(), 2u);
  EXPECT_EQ(ctx.reports[1].execution, 1);
  EXPECT_DOUBLE_EQ(result->value, 0.55);
}

}  // namespace
}  // namespace tuner::worker
