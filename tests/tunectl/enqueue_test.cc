// `tunectl enqueue` through RunTunectl against the in-process FakeStudyService.
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

class TunectlEnqueueTest : public ::testing::Test {
 protected:
  Result Run(std::vector<std::string> args) { return RunCliAgainst(server_.address(), args); }
  testing::FakeServer server_;
};

TEST_F(TunectlEnqueueTest, SendsEachParamAsTextAndPrintsTheNewTrial) {
  const Result r = Run({"enqueue", "cifar", "--param", "units=256", "--param",
                        "optimizer=adam", "--param", "learning_rate=1e-3"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "enqueued trial 3 of study 1: dropout=0.3 learning_rate=0.001 optimizer=adam "
            "units=256\n");
  const v1::EnqueueTrialRequest sent = server_.service().last_enqueue();
  EXPECT_EQ(sent.study_id(), 1);
  ASSERT_EQ(sent.params_size(), 3);
  EXPECT_EQ(sent.params().at("units").string_value(), "256");
  EXPECT_EQ(sent.params().at("learning_rate").string_value(), "1e-3");
}

TEST_F(TunectlEnqueueTest, JsonPrintsTheTrialLikeTrialsJson) {
  const Result r = Run({"enqueue", "1", "--param", "units=512", "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const nlohmann::json trial = nlohmann::json::parse(r.out);
  EXPECT_EQ(trial["number"], 3);
  EXPECT_EQ(trial["state"], "PENDING");
  EXPECT_EQ(trial["params"]["units"], 512);
}

TEST_F(TunectlEnqueueTest, TheServersRefusalNamesTheParam) {
  const Result r = Run({"enqueue", "cifar", "--param", "units=300"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("params.units: must be one of 128, 256, 512 (got 300)"), std::string::npos)
      << r.err;
  const Result grid = Run({"enqueue", "fresh", "--param", "units=128"});
  EXPECT_EQ(grid.code, kExitError);
  EXPECT_NE(grid.err.find("enqueue works with random and asha studies"), std::string::npos)
      << grid.err;
}

TEST_F(TunectlEnqueueTest, AConfigurationATrialAlreadyHasIsRefusedUnlessAllowed) {
  // Trial 11 (number 0) has exactly these params; 1.23e-3 reads as its 0.00123.
  const std::vector<std::string> same = {"enqueue",        "cifar",
                                         "--param",        "units=256",
                                         "--param",        "dropout=0.3",
                                         "--param",        "optimizer=adam",
                                         "--param",        "learning_rate=1.23e-3"};
  Result r = Run(same);
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "error: study 1 already has trial 11 (number 0, COMPLETED) with these params: "
            "dropout=0.3 learning_rate=0.00123 optimizer=adam units=256; add --allow-duplicate "
            "to run them again\n");
  EXPECT_EQ(server_.service().last_enqueue().params_size(), 0);  // nothing was sent
  std::vector<std::string> allowed = same;
  allowed.push_back("--allow-duplicate");
  r = Run(allowed);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(server_.service().last_enqueue().params_size(), 4);
}

TEST_F(TunectlEnqueueTest, AParamWithoutANameOrGivenTwiceIsAUsageError) {
  Result r = Run({"enqueue", "cifar", "--param", "units"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("--param: expected NAME=VALUE (got \"units\")"), std::string::npos) << r.err;
  r = Run({"enqueue", "cifar", "--param", "=3"});
  EXPECT_EQ(r.code, kExitUsage);
  r = Run({"enqueue", "cifar", "--param", "units=128", "--param", "units=256"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("units is given twice"), std::string::npos) << r.err;
  r = Run({"enqueue", "cifar"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(server_.service().last_enqueue().params_size(), 0);  // nothing was sent
}

}  // namespace
}  // namespace tuner::tunectl
