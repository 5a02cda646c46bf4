// EnqueueTrial through the server's gRPC API: validation, placement as the next trial, and
// durability across a restart.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

// units=512, dropout=0.4, optimizer=rmsprop, learning_rate=0.002, as a CLI sends them: text.
v1::EnqueueTrialRequest Request(int64_t study_id) {
  v1::EnqueueTrialRequest request;
  request.set_study_id(study_id);
  (*request.mutable_params())["units"].set_string_value("512");
  (*request.mutable_params())["dropout"].set_string_value("0.4");
  (*request.mutable_params())["optimizer"].set_string_value("rmsprop");
  (*request.mutable_params())["learning_rate"].set_float_value(0.002);
  return request;
}

grpc::Status Enqueue(TestServer& server, const v1::EnqueueTrialRequest& request,
                     v1::EnqueueTrialResponse* response) {
  grpc::ClientContext context;
  return server.studies().EnqueueTrial(&context, request, response);
}

void ExpectEnqueuedParams(const google::protobuf::Map<std::string, v1::ParamValue>& params) {
  EXPECT_EQ(params.at("units").int_value(), 512);
  EXPECT_DOUBLE_EQ(params.at("dropout").float_value(), 0.4);
  EXPECT_EQ(params.at("optimizer").string_value(), "rmsprop");
  EXPECT_DOUBLE_EQ(params.at("learning_rate").float_value(), 0.002);
}

TEST(EnqueueTrial, TheNextTrialLeasedHasTheEnqueuedParams) {
  TestServer server;
  const int64_t id = CreateStudy(server, RandomSpec(3, 1));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse first;
  ASSERT_TRUE(worker.Acquire(&first).ok());
  ASSERT_TRUE(worker.Complete(first.lease(), 0.5, 1).ok());

  v1::EnqueueTrialResponse response;
  grpc::Status status = Enqueue(server, Request(id), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.trial().number(), 1);
  EXPECT_EQ(response.trial().state(), v1::PENDING);
  ExpectEnqueuedParams(response.trial().params());

  v1::AcquireTrialResponse next;
  ASSERT_TRUE(worker.Acquire(&next).ok());
  ASSERT_TRUE(next.has_trial());
  EXPECT_EQ(next.lease().trial_id(), response.trial().trial_id());
  EXPECT_EQ(next.trial_number(), 1);
  ExpectEnqueuedParams(next.params());
}

TEST(EnqueueTrial, BadParamsAreInvalidArgumentNamingTheParam) {
  TestServer server;
  const int64_t id = CreateStudy(server, RandomSpec(3, 1));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"units", "one of 128, 256, 512"},
      {"dropout", "a number in [0.2, 0.5] on the grid min + k * 0.1"},
      {"optimizer", "one of adam, rmsprop"},
  };
  for (const auto& [name, allowed] : cases) {
    v1::EnqueueTrialRequest request = Request(id);
    (*request.mutable_params())[name].set_string_value("0.25");
    v1::EnqueueTrialResponse response;
    grpc::Status status = Enqueue(server, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_THAT(status.error_message(), HasSubstr("params." + name + ": must be " + allowed));
  }
  v1::EnqueueTrialRequest unknown = Request(id);
  (*unknown.mutable_params())["momentum"].set_float_value(0.9);
  v1::EnqueueTrialResponse response;
  grpc::Status status = Enqueue(server, unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("params.momentum: not a param of this study"));
  v1::EnqueueTrialRequest missing = Request(id);
  missing.mutable_params()->erase("learning_rate");
  status = Enqueue(server, missing, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("params.learning_rate: missing"));

  status = Enqueue(server, Request(id + 100), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  // Nothing was created by the refused requests.
  v1::Study study;
  grpc::ClientContext context;
  v1::GetStudyRequest get;
  get.set_study_id(id);
  ASSERT_TRUE(server.studies().GetStudy(&context, get, &study).ok());
  EXPECT_EQ(study.trial_counts().count("PENDING") ? study.trial_counts().at("PENDING") : 0, 0);
}

TEST(EnqueueTrial, FullStoppedGridAndHyperbandStudiesRefuseWithFailedPrecondition) {
  TestServer server;
  v1::EnqueueTrialResponse response;
  const int64_t full = CreateStudy(server, RandomSpec(1, 1));
  ASSERT_TRUE(Enqueue(server, Request(full), &response).ok());
  grpc::Status status = Enqueue(server, Request(full), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("max_trials"));

  const int64_t stopped = CreateStudy(server, RandomSpec(5, 1));
  {
    v1::StopStudyRequest stop;
    stop.set_study_id(stopped);
    v1::Study study;
    grpc::ClientContext context;
    ASSERT_TRUE(server.studies().StopStudy(&context, stop, &study).ok());
  }
  status = Enqueue(server, Request(stopped), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("STUDY_STOPPED"));

  const int64_t grid = CreateStudy(server, GridSpec());
  v1::EnqueueTrialRequest request = Request(grid);
  request.mutable_params()->erase("learning_rate");
  status = Enqueue(server, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("enqueue works with random and asha studies"));
  status = Enqueue(server, Request(CreateStudy(server, HyperbandSpec(9))), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(EnqueueTrial, AnEnqueuedAshaTrialStartsAtRungZero) {
  TestServer server;
  const int64_t id = CreateStudy(server, AshaSpec(4));
  v1::EnqueueTrialResponse response;
  grpc::Status status = Enqueue(server, Request(id), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.trial().bracket(), 0);
  EXPECT_EQ(response.trial().rung(), 0);
  EXPECT_EQ(response.trial().budget_epochs(), 1);
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  EXPECT_EQ(trial.lease().trial_id(), response.trial().trial_id());
  EXPECT_EQ(trial.budget_epochs(), 1);
}

TEST(EnqueueTrial, AnEnqueuedTrialSurvivesARestartAndTheStudyFinishes) {
  TestServer server;
  const int64_t id = CreateStudy(server, RandomSpec(3, 1));
  v1::EnqueueTrialResponse response;
  ASSERT_TRUE(Enqueue(server, Request(id), &response).ok());
  server.Restart();
  RawWorker worker(&server.workers(), "w");
  std::vector<int64_t> leased;
  for (;;) {
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(worker.Acquire(&trial).ok());
    if (!trial.has_trial()) break;
    if (leased.empty()) ExpectEnqueuedParams(trial.params());
    leased.push_back(trial.lease().trial_id());
    ASSERT_TRUE(worker.Complete(trial.lease(), 0.5, 1).ok());
  }
  ASSERT_EQ(leased.size(), 3u);  // the enqueued trial counts toward max_trials
  EXPECT_EQ(leased[0], response.trial().trial_id());
  v1::Study study;
  grpc::ClientContext context;
  v1::GetStudyRequest get;
  get.set_study_id(id);
  ASSERT_TRUE(server.studies().GetStudy(&context, get, &study).ok());
  EXPECT_EQ(study.state(), v1::STUDY_COMPLETED);
  EXPECT_EQ(study.trial_counts().at("COMPLETED"), 3);
}

}  // namespace
}  // namespace tuner::testing
