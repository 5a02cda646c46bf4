// tunectl's commands end to end through RunTunectl (flags, channel, exit codes) against an
// in-process FakeStudyService on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tunectl/fake_study_service.h"
#include "tests/tunectl/run_cli.h"
#include "tunectl/cli.h"
#include "tunectl/commands.h"

namespace tuner::tunectl {
namespace {

using Result = CliResult;

// A port nothing listens on: bound by the OS, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t size = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

ClientOptions Options(const std::string& server) {
  ClientOptions options;
  options.server = server;
  return options;
}

class TunectlTest : public ::testing::Test {
 protected:
  Result Run(std::vector<std::string> args) { return RunCliAgainst(server_.address(), args); }
  testing::FakeServer server_;
};

TEST_F(TunectlTest, StartStudyPrintsTheIdAloneAndAHumanLineOnStderr) {
  const std::string spec = WriteTemp("good.yaml", "name: new-study\nalgorithm: {kind: random}\n");
  const Result r = Run({"start-study", spec});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "5\n");
  EXPECT_EQ(r.err, "created study 5 \"new-study\" (random, 10 trials planned)\n");
  EXPECT_EQ(server_.service().last_spec(), "name: new-study\nalgorithm: {kind: random}\n");
}

// Issue 13 row 5: start-study sends a fresh request_id and retries UNAVAILABLE with the same
// one, so the server creates the study once however many tries it took.
TEST_F(TunectlTest, StartStudyRetriesWithOneRequestIdAndEachRunHasItsOwn) {
  const std::string spec = WriteTemp("good.yaml", "name: new-study\n");
  server_.service().FailCreates(2);
  const Result r = Run({"start-study", spec});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "5\n");
  std::vector<std::string> ids = server_.service().create_request_ids();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].size(), 32u);
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
  ASSERT_EQ(Run({"start-study", spec}).code, kExitOk);
  ids = server_.service().create_request_ids();
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_NE(ids[3], ids[0]);
  // Three UNAVAILABLE answers: it gives up with the usual message.
  server_.service().FailCreates(3);
  const Result failed = Run({"start-study", spec});
  EXPECT_EQ(failed.code, kExitError);
  EXPECT_EQ(server_.service().create_request_ids().size(), 7u);
}

TEST_F(TunectlTest, StartStudyJsonPrintsTheStudy) {
  const std::string spec = WriteTemp("good.yaml", "name: new-study\n");
  const Result r = Run({"start-study", spec, "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const nlohmann::json json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["study_id"], 5);
  EXPECT_EQ(json["state"], "STUDY_RUNNING");
}

TEST_F(TunectlTest, BadSpecShowsTheServerMessageVerbatim) {
  const std::string spec = WriteTemp("bad.yaml", "name: x\nalgorithm: {kind: bayes}\n");
  const Result r = Run({"start-study", spec});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "error: " + spec + ": " + testing::FakeStudyService::kBadSpecMessage + "\n");
}

TEST_F(TunectlTest, UnreadableSpecNamesTheFile) {
  const Result r = Run({"start-study", "/nonexistent/spec.yaml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "error: cannot read spec file /nonexistent/spec.yaml: No such file or directory\n");
}

TEST_F(TunectlTest, TrialsJsonHasOneObjectPerTrialWithNativeParamTypes) {
  const Result r = Run({"trials", "1", "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const nlohmann::json json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["study_id"], 1);
  ASSERT_EQ(json["trials"].size(), 3u);
  const nlohmann::json& first = json["trials"][0];  // sorted by number
  EXPECT_EQ(first["number"], 0);
  EXPECT_EQ(first["trial_id"], 11);
  EXPECT_EQ(first["state"], "COMPLETED");
  EXPECT_EQ(first["value"], 0.9123);
  EXPECT_EQ(first["params"],
            nlohmann::json::parse(
                R"({"units":256,"dropout":0.3,"optimizer":"adam","learning_rate":0.00123})"));
  EXPECT_TRUE(first["params"]["units"].is_number_integer());
  EXPECT_TRUE(first["params"]["dropout"].is_number_float());
  EXPECT_EQ(first["metrics"]["val_loss"], 0.25);
  EXPECT_TRUE(json["trials"][2]["value"].is_null());
}

TEST_F(TunectlTest, TrialsJsonCarriesIntermediateValuesWhenAsked) {
  const nlohmann::json plain = nlohmann::json::parse(Run({"trials", "1", "--json"}).out);
  EXPECT_FALSE(plain["trials"][0].contains("intermediate_values"));
  const Result r = Run({"trials", "1", "--json", "--intermediate"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const nlohmann::json json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["trials"][0]["intermediate_values"],
            nlohmann::json::parse(
                R"([{"execution":0,"epoch":1,"value":0.5,"metrics":{"val_loss":0.7}}])"));
}

TEST_F(TunectlTest, BestJsonIsTheBestOfTrialsJsonInTheSameShape) {
  const Result trials = Run({"trials", "cifar", "--json"});
  const Result best = Run({"best", "cifar", "--json"});
  ASSERT_EQ(best.code, kExitOk) << best.err;
  const nlohmann::json all = nlohmann::json::parse(trials.out)["trials"];
  const nlohmann::json top = nlohmann::json::parse(best.out);
  EXPECT_EQ(top["study_id"], 1);
  ASSERT_EQ(top["trials"].size(), 1u);
  nlohmann::json max;
  for (const auto& t : all) {
    if (t["value"].is_number() && (max.is_null() || t["value"] > max["value"])) max = t;
  }
  EXPECT_EQ(top["trials"][0], max);
  EXPECT_EQ(top["trials"][0]["params"]["learning_rate"], 1e-05);
}

TEST_F(TunectlTest, BestHumanListsParamsAndMetrics) {
  const Result r = Run({"best", "1", "-k", "2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "#1  trial 12 (number 1)  value 0.9345\n"
            "    params   dropout=0.2 learning_rate=1e-05 optimizer=rmsprop units=128\n"
            "    metrics  val_accuracy=0.9345 val_loss=0.2500\n"
            "#2  trial 11 (number 0)  value 0.9123\n"
            "    params   dropout=0.3 learning_rate=0.00123 optimizer=adam units=256\n"
            "    metrics  val_accuracy=0.9123 val_loss=0.2500\n");
}

TEST_F(TunectlTest, BestWithoutACompletedTrialFails) {
  const Result r = Run({"best", "fresh"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "error: study 2 has no completed trial yet\n");
}

TEST_F(TunectlTest, StateFilterIsCaseInsensitiveAndRepeatable) {
  const Result r = Run({"trials", "1", "--state", "Completed,running", "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(server_.service().last_state_filter(),
            (std::vector<v1::TrialState>{v1::COMPLETED, v1::RUNNING}));
  EXPECT_EQ(nlohmann::json::parse(r.out)["trials"].size(), 3u);
  const Result pruned = Run({"trials", "1", "--state", "pruned", "--state", "FAILED"});
  ASSERT_EQ(pruned.code, kExitOk);
  EXPECT_EQ(server_.service().last_state_filter(),
            (std::vector<v1::TrialState>{v1::PRUNED, v1::FAILED}));
}

TEST_F(TunectlTest, UnknownStateIsAUsageErrorListingTheAllowedStates) {
  const Result r = Run({"trials", "1", "--state", "done"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("unknown trial state \"done\" (allowed: pending, running, paused, "
                       "completed, pruned, failed, stopped)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST_F(TunectlTest, CommandsValidateStatesThemselvesToo) {
  std::ostringstream out, err;
  auto channel = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
  auto stub = v1::StudyService::NewStub(channel);
  Commands commands(*stub, Options(server_.address()), out, err);
  EXPECT_EQ(commands.Trials("1", {"bogus"}, false), kExitUsage);
  EXPECT_NE(err.str().find("allowed: pending"), std::string::npos);
}

TEST_F(TunectlTest, TrialsTableHasAColumnPerParam) {
  const Result r = Run({"trials", "cifar"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "NUMBER  ID  STATE       VALUE  EPOCHS  ATTEMPT  WORKER  dropout  learning_rate  "
            "optimizer  units");
  EXPECT_NE(r.out.find("     2  13  RUNNING         -     2/4        1  w1      0.5      0.01"),
            std::string::npos)
      << r.out;
}

TEST_F(TunectlTest, ResolvesAStudyByName) {
  const Result r = Run({"status", "cifar", "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const nlohmann::json json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["study_id"], 1);
  EXPECT_EQ(json["best_trial"]["trial_id"], 12);
}

TEST_F(TunectlTest, UnknownStudyNameIsAClearError) {
  const Result r = Run({"status", "nope"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "error: no study named \"nope\" (tunectl studies lists them)\n");
}

TEST_F(TunectlTest, AmbiguousStudyNameListsTheIds) {
  const Result r = Run({"trials", "dup"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "error: study name \"dup\" is ambiguous (ids 3, 4): give the id\n");
}

TEST_F(TunectlTest, UnknownStudyIdShowsTheServersNotFoundMessage) {
  const Result r = Run({"best", "99"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "error: study 99 not found\n");
}

TEST_F(TunectlTest, StudiesListsEveryStudyById) {
  const Result r = Run({"studies"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::istringstream lines(r.out);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_EQ(header.substr(0, 45), "ID  NAME   STATE    ALGORITHM  TRIALS    BEST");
  EXPECT_EQ(first.substr(0, 45), " 1  cifar  RUNNING  random        2/3  0.9345");
  const Result json = Run({"studies", "--json"});
  EXPECT_EQ(nlohmann::json::parse(json.out)["studies"].size(), 4u);
}

// The fake answers two studies (or trials) a page: tunectl asks for every page, and the
// JSON keeps each study's spec_yaml (ListStudies leaves it out unless asked).
TEST_F(TunectlTest, StudiesTrialsAndReportFollowEveryPage) {
  const Result studies = Run({"studies", "--json"});
  ASSERT_EQ(studies.code, kExitOk) << studies.err;
  const nlohmann::json listed = nlohmann::json::parse(studies.out)["studies"];
  ASSERT_EQ(listed.size(), 4u);
  EXPECT_EQ(listed[3]["spec_yaml"], "name: dup\n");
  EXPECT_EQ(server_.service().list_pages(), 2);
  const Result trials = Run({"trials", "1", "--json"});
  ASSERT_EQ(trials.code, kExitOk) << trials.err;
  EXPECT_EQ(nlohmann::json::parse(trials.out)["trials"].size(), 3u);
  EXPECT_EQ(server_.service().list_pages(), 4);
  const Result by_name = Run({"trials", "fresh"});  // the name is looked up over both pages
  ASSERT_EQ(by_name.code, kExitOk) << by_name.err;
  const std::string html = ::testing::TempDir() + "/paged_report.html";
  const Result report = Run({"report", "1", "--html", html});
  ASSERT_EQ(report.code, kExitOk) << report.err;
  EXPECT_NE(report.out.find("3 trials"), std::string::npos) << report.out;
}

TEST_F(TunectlTest, StatusShowsCountsAndBest) {
  const Result r = Run({"status", "1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("trials    done 2 (completed 2, pruned 0, failed 0, stopped 0)  running 1"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("best      0.9345  trial 12 (number 1)"), std::string::npos) << r.out;
}

TEST_F(TunectlTest, StopPrintsTheNewState) {
  const Result r = Run({"stop", "cifar"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "study 1 \"cifar\": STOPPED (2/3 trials done)\n");
}

TEST_F(TunectlTest, WatchPrintsOneLinePerEventAndEndsWhenTheStudyFinishes) {
  v1::StudyEvent snapshot;
  snapshot.set_kind(v1::StudyEvent::SNAPSHOT);
  snapshot.mutable_study()->set_study_id(1);
  snapshot.mutable_study()->set_state(v1::STUDY_RUNNING);
  v1::StudyEvent update;
  update.set_kind(v1::StudyEvent::TRIAL_UPDATED);
  *update.mutable_trial() = testing::MakeTrial(13, 1, 2, v1::COMPLETED, 512, 0.5, "adam", 0.01);
  v1::StudyEvent finished = snapshot;
  finished.set_kind(v1::StudyEvent::STUDY_FINISHED);
  finished.mutable_study()->set_state(v1::STUDY_COMPLETED);
  server_.service().SetWatchEvents({snapshot, update, finished});
  const Result r = Run({"watch", "cifar"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << r.out;
  EXPECT_NE(r.out.find("trial 13 (number 2) COMPLETED"), std::string::npos);
  EXPECT_NE(r.out.find("study 1 COMPLETED"), std::string::npos);
}

TEST_F(TunectlTest, WatchOnceprintsOneSnapshot) {
  const Result r = Run({"watch", "1", "--once"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out.rfind("study 1 \"cifar\"  RUNNING  random  maximize val_accuracy\n", 0), 0u)
      << r.out;
}

TEST_F(TunectlTest, WatchCancelledReturns130) {
  CancelToken cancel;
  cancel.Cancel();  // as Ctrl-C would before the stream even starts
  std::ostringstream out, err;
  auto channel = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
  auto stub = v1::StudyService::NewStub(channel);
  Commands commands(*stub, Options(server_.address()), out, err);
  WatchOptions options;
  options.cancel = &cancel;
  EXPECT_EQ(commands.Watch("1", options), kExitInterrupted);
}

TEST_F(TunectlTest, SendsTheBearerToken) {
  const Result r = Run({"studies", "--token", "s3cret"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(server_.service().last_metadata()["authorization"], "Bearer s3cret");
}

TEST(Tunectl, UnreachableServerSaysSoInOneLine) {
  const std::string address = "127.0.0.1:" + std::to_string(ClosedPort());
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"studies"}, {"status", "1"}, {"best", "name"}}) {
    std::vector<std::string> args = {"--server", address};
    args.insert(args.end(), command.begin(), command.end());
    const Result r = RunCli(args);
    EXPECT_EQ(r.code, kExitError);
    EXPECT_EQ(r.err, "error: cannot reach tuner-server at " + address +
                         " (UNAVAILABLE): is it running? set --server or TUNER_SERVER; if the "
                         "server serves TLS, pass --tls-ca\n");
  }
}

TEST(Tunectl, BadFlagsAreUsageErrors) {
  Result r = RunCli({"trials"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "error: STUDY is required (see tunectl trials --help)\n");
  r = RunCli({"frobnicate"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "error: unknown subcommand \"frobnicate\" (see tunectl --help)\n");
  r = RunCli({});
  EXPECT_EQ(r.code, kExitUsage);
  r = RunCli({"best", "1", "-k", "0"});
  EXPECT_EQ(r.code, kExitUsage);
  r = RunCli({"--timeout", "-1", "studies"});
  EXPECT_EQ(r.code, kExitUsage);
  r = RunCli({"studies", "--bogus"});
  EXPECT_EQ(r.code, kExitUsage);
}

TEST(Tunectl, HelpExitsZero) {
  const Result r = RunCli({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("start-study"), std::string::npos);
}

}  // namespace
}  // namespace tuner::tunectl
