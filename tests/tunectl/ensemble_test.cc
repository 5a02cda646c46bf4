// `tunectl ensemble`, the ensemble line of `tunectl best` and the report's Ensemble section,
// through RunTunectl against the in-process FakeStudyService.
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
#include "tunectl/ensemble_view.h"
#include "tunectl/report.h"

namespace tuner::tunectl {
namespace {

using Result = CliResult;

class TunectlEnsembleTest : public ::testing::Test {
 protected:
  Result Run(std::vector<std::string> args) { return RunCliAgainst(server_.address(), args); }
  testing::FakeServer server_;
};

TEST_F(TunectlEnsembleTest, WaitsForTheResultAndShowsItAgainstEachMember) {
  const Result r = Run({"ensemble", "cifar", "-k", "2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "ensemble 1 (top 2 trials): test accuracy 0.9500 on 10000 test images, best member "
            "0.9300 (+0.0200)\n"
            "TRIAL  NUMBER   VALUE  TEST_ACCURACY  PARAMS\n"
            "   12       1  0.9345         0.9300  dropout=0.2 learning_rate=1e-05 "
            "optimizer=rmsprop units=128\n"
            "   11       0  0.9123         0.9200  dropout=0.3 learning_rate=0.00123 "
            "optimizer=adam units=256\n");
  EXPECT_NE(r.err.find("waiting for a trial-worker"), std::string::npos) << r.err;

  // tunectl best shows the newest ensemble under the best trials, and in its JSON.
  const Result best = Run({"best", "cifar", "-k", "2"});
  ASSERT_EQ(best.code, kExitOk) << best.err;
  EXPECT_NE(best.out.find("ensemble 1 (top 2 trials): test accuracy 0.9500 on 10000 test images"),
            std::string::npos)
      << best.out;
  const Result json = Run({"best", "cifar", "--json"});
  ASSERT_EQ(json.code, kExitOk) << json.err;
  const nlohmann::json parsed = nlohmann::json::parse(json.out);
  EXPECT_DOUBLE_EQ(parsed["latest_ensemble"]["test_accuracy"].get<double>(), 0.95);
  EXPECT_EQ(parsed["latest_ensemble"]["members"].size(), 2u);
  EXPECT_DOUBLE_EQ(parsed["latest_ensemble"]["members"][1]["test_accuracy"].get<double>(), 0.92);
}

TEST_F(TunectlEnsembleTest, BestWithoutAnEnsembleHasNoEnsembleLine) {
  const Result best = Run({"best", "cifar"});
  ASSERT_EQ(best.code, kExitOk) << best.err;
  EXPECT_EQ(best.out.find("ensemble"), std::string::npos) << best.out;
  const Result json = Run({"best", "cifar", "--json"});
  EXPECT_TRUE(nlohmann::json::parse(json.out)["latest_ensemble"].is_null());
}

TEST_F(TunectlEnsembleTest, NoWaitPrintsThePendingEnsembleAndJsonHasEveryField) {
  const Result r = Run({"ensemble", "1", "-k", "1", "--no-wait", "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const nlohmann::json e = nlohmann::json::parse(r.out);
  EXPECT_EQ(e["ensemble_id"], 1);
  EXPECT_EQ(e["state"], "ENSEMBLE_PENDING");
  EXPECT_TRUE(e["test_accuracy"].is_null());
  ASSERT_EQ(e["members"].size(), 1u);
  EXPECT_EQ(e["members"][0]["trial_id"], 12);
  EXPECT_EQ(e["members"][0]["params"]["units"], 128);
}

TEST_F(TunectlEnsembleTest, ServerRefusalsAndBadKAreReported) {
  const Result too_many = Run({"ensemble", "cifar", "-k", "3"});
  EXPECT_EQ(too_many.code, kExitError);
  EXPECT_NE(too_many.err.find("fewer than k = 3"), std::string::npos) << too_many.err;
  EXPECT_EQ(Run({"ensemble", "cifar", "-k", "0"}).code, kExitUsage);
  EXPECT_EQ(Run({"ensemble", "cifar", "-k", "101"}).code, kExitUsage);
  EXPECT_EQ(Run({"ensemble", "nosuchstudy"}).code, kExitError);
}

TEST_F(TunectlEnsembleTest, AFailedEnsembleExitsOneWithItsReason) {
  server_.service().SetEnsembleFailure("dataset cifar10 not found at /data");
  const Result r = Run({"ensemble", "cifar", "-k", "1"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("ensemble 1 failed: dataset cifar10 not found at /data"),
            std::string::npos)
      << r.err;
}

TEST_F(TunectlEnsembleTest, ReportHasAnEnsembleSectionOnceThereIsOne) {
  const std::string path = ::testing::TempDir() + "/ensemble-report.html";
  ASSERT_EQ(Run({"report", "cifar", "--html", path}).code, kExitOk);
  std::stringstream before;
  before << std::ifstream(path).rdbuf();
  EXPECT_EQ(before.str().find("id=\"ensemble\""), std::string::npos);

  ASSERT_EQ(Run({"ensemble", "cifar", "-k", "2"}).code, kExitOk);
  ASSERT_EQ(Run({"report", "cifar", "--html", path}).code, kExitOk);
  std::stringstream after;
  after << std::ifstream(path).rdbuf();
  const std::string html = after.str();
  const size_t section = html.find("<section id=\"ensemble\"><h2>Ensemble</h2>");
  ASSERT_NE(section, std::string::npos);
  EXPECT_NE(html.find("test accuracy <b>0.9500</b> vs 0.9300 for its best member (+0.0200)",
                      section),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">0.9200</td>", section), std::string::npos);
}

TEST(EnsembleLine, SaysTheStateUntilThereIsAnAccuracy) {
  v1::Ensemble e;
  e.set_ensemble_id(3);
  e.set_k(1);
  e.set_state(v1::ENSEMBLE_RUNNING);
  EXPECT_EQ(EnsembleLine(e), "ensemble 3 (top 1 trial): RUNNING");
  e.set_state(v1::ENSEMBLE_FAILED);
  e.set_fail_reason("no GPU");
  EXPECT_EQ(EnsembleLine(e), "ensemble 3 (top 1 trial): FAILED: no GPU");
}

}  // namespace
}  // namespace tuner::tunectl
