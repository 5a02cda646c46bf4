// Issue 13, rows 2, 7 and 11 through the gRPC API: stored text is always valid UTF-8 (a long
// fail reason is cut on a character boundary, a db row with bad bytes is repaired when
// loaded), a request with invalid UTF-8 is INVALID_ARGUMENT naming the field, a corrupt
// ensembles row does not stop the server, and a second server on one db is refused.
#include <unistd.h>

#include <chrono>
#include <string>

#include "common/utf8.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

const char kEuro[] = "\xE2\x82\xAC";  // U+20AC: three bytes

// Writes rows straight into a stopped server's db, as another program (or an older build)
// could have left them.
void Rewrite(const std::string& db_path, const std::function<void(storage::Snapshot&)>& edit,
             bool ensembles_only = false) {
  auto db = storage::Database::Open(db_path);
  ASSERT_TRUE(db.ok()) << db.status();
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  edit(*snapshot);
  ASSERT_TRUE((*db)->Begin().ok());
  if (!ensembles_only) {
    for (const auto& row : snapshot->trials) ASSERT_TRUE((*db)->Write(row).ok());
    for (const auto& row : snapshot->workers) ASSERT_TRUE((*db)->Write(row).ok());
  }
  for (const auto& row : snapshot->ensembles) ASSERT_TRUE((*db)->Write(row).ok());
  ASSERT_TRUE((*db)->Commit().ok());
}

std::vector<v1::Trial> FailedTrials(TestServer& server, int64_t study) {
  std::vector<v1::Trial> failed;
  for (v1::Trial& trial : ListTrials(server, study)) {
    if (!trial.fail_reason().empty()) failed.push_back(std::move(trial));
  }
  return failed;
}

TEST(Utf8, LongMultiByteFailReasonIsCutOnACharacterBoundaryAndEveryReplyWorks) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(2, 3, 0, /*max_attempts=*/1));
  RawWorker worker(&server.workers(), "w1");
  ASSERT_TRUE(worker.register_status().ok());

  // A watcher that is open while the reason is stored must keep working too.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::WatchStudyRequest watch_request;
  watch_request.set_study_id(study);
  auto watch = server.studies().WatchStudy(&watch_context, watch_request);
  v1::StudyEvent event;
  ASSERT_TRUE(watch->Read(&event));

  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  ASSERT_TRUE(trial.has_trial());
  std::string reason;
  for (int i = 0; i < 1666; ++i) reason += kEuro;
  reason += "xy";  // 5,000 bytes; byte 4,096 falls inside a character
  ASSERT_EQ(reason.size(), 5000u);
  grpc::Status failed = worker.Fail(trial.lease(), reason, /*retryable=*/false);
  ASSERT_TRUE(failed.ok()) << failed.error_message();

  for (int restart = 0; restart < 2; ++restart) {
    std::vector<v1::Trial> trials = FailedTrials(server, study);
    ASSERT_EQ(trials.size(), 1u) << "restart " << restart;
    const std::string& stored = trials[0].fail_reason();
    EXPECT_EQ(stored.size(), 4095u);  // 1,365 whole characters
    EXPECT_TRUE(IsValidUtf8(stored));
    EXPECT_EQ(stored, reason.substr(0, 4095));
    if (restart == 0) {
      bool seen = false;
      while (!seen && watch->Read(&event)) {
        seen = event.kind() == v1::StudyEvent::TRIAL_UPDATED &&
               event.trial().fail_reason() == stored;
      }
      EXPECT_TRUE(seen) << "WatchStudy did not carry the failed trial";
      watch_context.TryCancel();
      watch->Finish().IgnoreError();
      server.Restart();
    }
  }
}

TEST(Utf8, InvalidUtf8InARequestIsInvalidArgumentNamingTheField) {
  TestServer server;
  {
    v1::CreateStudyRequest request;
    request.set_spec_yaml(RandomSpec(2) + "# caf\xC3(\n");
    v1::CreateStudyResponse response;
    grpc::ClientContext context;
    grpc::Status status = server.studies().CreateStudy(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("spec_yaml: must be valid UTF-8"));
  }
  {
    v1::RegisterWorkerRequest request;
    request.set_name("w1");
    request.set_host("host\xFF");
    v1::RegisterWorkerResponse response;
    grpc::ClientContext context;
    grpc::Status status = server.workers().RegisterWorker(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("host: must be valid UTF-8 (byte 4 is 0xff)"));
  }
  const int64_t study = CreateStudy(server, RandomSpec(2));
  {
    v1::EnqueueTrialRequest request;
    request.set_study_id(study);
    (*request.mutable_params())["optimizer"].set_string_value("ad\xED\xA0\x80");  // a surrogate
    v1::EnqueueTrialResponse response;
    grpc::ClientContext context;
    grpc::Status status = server.studies().EnqueueTrial(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("params[\"optimizer\"].string_value: must be valid UTF-8"));
  }
  RawWorker worker(&server.workers(), "w1");
  ASSERT_TRUE(worker.register_status().ok());
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  ASSERT_TRUE(trial.has_trial());
  {
    v1::ReportIntermediateRequest request;
    *request.mutable_lease() = trial.lease();
    request.mutable_intermediate()->set_epoch(1);
    request.mutable_intermediate()->set_value(0.5);
    (*request.mutable_intermediate()->mutable_metrics())["loss\x80"] = 1;
    v1::ReportIntermediateResponse response;
    grpc::ClientContext context;
    grpc::Status status = server.workers().ReportIntermediate(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("intermediate.metrics: keys must be valid"));
  }
  grpc::Status status = worker.Fail(trial.lease(), std::string("oom \xC0\xAF"), true);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("reason: must be valid UTF-8 (byte 4 is 0xc0)"));

  // Nothing of the refused calls was applied, and the server still serves everyone.
  EXPECT_TRUE(FailedTrials(server, study).empty());
  EXPECT_EQ(GetStudy(server, study).trial_counts().at("RUNNING"), 1);
  status = worker.Report(trial.lease(), 1, 0.5);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(Utf8, StoredRowsWithInvalidUtf8AreRepairedWhenLoaded) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(2, 3, 0, /*max_attempts=*/1));
  RawWorker worker(&server.workers(), "w1");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  ASSERT_TRUE(worker.Fail(trial.lease(), "placeholder", false).ok());
  server.Stop();
  // What today's server stored for a reason cut mid-character, and a worker row with bad bytes.
  Rewrite(server.db_path(), [](storage::Snapshot& snapshot) {
    for (auto& row : snapshot.trials) {
      if (!row.fail_reason.empty()) row.fail_reason = "cut \xE2\x82";
    }
    for (auto& row : snapshot.workers) row.host = "h\xFFst";
  });
  server.Start();
  std::vector<v1::Trial> trials = FailedTrials(server, study);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].fail_reason(), "cut \xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD for each bad byte
  v1::GetBestTrialsRequest best_request;
  best_request.set_study_id(study);
  v1::GetBestTrialsResponse best;
  grpc::ClientContext context;
  EXPECT_TRUE(server.studies().GetBestTrials(&context, best_request, &best).ok());
}

TEST(Startup, CorruptEnsembleRowsAreLeftOutAndTheServerStarts) {
  TestServer server;
  const int64_t study = CreateStudy(server, RandomSpec(2));
  server.Stop();
  Rewrite(
      server.db_path(),
      [study](storage::Snapshot& snapshot) {
        storage::EnsembleRow good;
        good.id = 1;
        good.study_id = study;
        good.k = 1;
        good.member_trial_ids_json = "[1]";
        good.state = "ENSEMBLE_FAILED";
        good.fail_reason = "kept";
        storage::EnsembleRow wrong_type = good;  // threw nlohmann::type_error at start-up
        wrong_type.id = 2;
        wrong_type.member_trial_ids_json = "[\"one\", 2]";
        storage::EnsembleRow wrong_accuracy = good;
        wrong_accuracy.id = 3;
        wrong_accuracy.member_accuracies_json = "[null]";
        storage::EnsembleRow wrong_state = good;
        wrong_state.id = 4;
        wrong_state.state = "ENSEMBLE_EXPLODED";
        snapshot.ensembles = {good, wrong_type, wrong_accuracy, wrong_state};
      },
      /*ensembles_only=*/true);
  server.Start();
  v1::ListEnsemblesRequest request;
  request.set_study_id(study);
  v1::ListEnsemblesResponse list;
  grpc::ClientContext context;
  ASSERT_TRUE(server.studies().ListEnsembles(&context, request, &list).ok());
  ASSERT_EQ(list.ensembles_size(), 1);
  EXPECT_EQ(list.ensembles(0).ensemble_id(), 1);
  EXPECT_EQ(list.ensembles(0).fail_reason(), "kept");
}

TEST(Startup, SecondServerOnTheSameDbIsRefusedNamingTheFileAndThePid) {
  TestServer first;
  const int64_t study = CreateStudy(first, RandomSpec(2));
  server::ServerOptions options;
  options.db_path = first.db_path();
  options.listen = "127.0.0.1:0";
  auto second = server::TunerServer::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("db " + first.db_path() + " is in use"));
  EXPECT_THAT(second.status().message(), HasSubstr("pid " + std::to_string(getpid())));
  EXPECT_THAT(second.status().message(), HasSubstr(first.db_path() + ".lock"));
  // The first keeps serving, and once it is gone the db is free again.
  EXPECT_EQ(GetStudy(first, study).study_id(), study);
  first.Restart();
  EXPECT_EQ(GetStudy(first, study).study_id(), study);
}

// Server reflection answers without the bearer token (documented in docs/security.md): it
// lists the services, which is what proto/tuner.proto says, and nothing stored.
TEST(Startup, ReflectionAnswersWithoutTheTokenWithTheApiOnly) {
  server::ServerOptions options;
  options.auth_token = "s3cret-token";
  TestServer server(options);
  grpc::GenericStub generic(server.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  auto call = generic.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  void* tag;
  bool ok = false;
  auto next = [&] {
    EXPECT_TRUE(queue.Next(&tag, &ok));
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next());
  // ServerReflectionRequest{list_services: ""}, encoded by hand (field 7, string).
  const std::string encoded("\x3a\x00", 2);
  grpc::Slice slice(encoded);
  grpc::ByteBuffer request(&slice, 1), response;
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(next());
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(next());
  call->Read(&response, reinterpret_cast<void*>(4));
  ASSERT_TRUE(next());
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& part : slices) {
    bytes.append(reinterpret_cast<const char*>(part.begin()), part.size());
  }
  EXPECT_THAT(bytes, HasSubstr("tuner.v1.StudyService"));
  EXPECT_THAT(bytes, HasSubstr("tuner.v1.WorkerService"));
}

}  // namespace
}  // namespace tuner::testing
