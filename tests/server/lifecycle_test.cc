// DeleteStudy on a real server (issue 17): a study that ended goes with its trials and
// checkpoint files, also after a restart; a running one, an unknown id and a second delete
// are refused and change nothing.
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

grpc::Status Delete(TestServer& server, int64_t study, v1::DeleteStudyResponse* response) {
  grpc::ClientContext context;
  v1::DeleteStudyRequest request;
  request.set_study_id(study);
  return server.studies().DeleteStudy(&context, request, response);
}

size_t FilesIn(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); ++it) {
    ++n;
  }
  return n;
}

TEST(Lifecycle, DeleteStudyRemovesAnEndedStudyWithItsTrialsAndCheckpointFiles) {
  TestServer server;
  std::string spec = RandomSpec(1, 2);
  spec += "keep_checkpoints: true\n";
  const int64_t study = CreateStudy(server, spec);
  const int64_t other = CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w1");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(worker.Acquire(&leased).ok());
  ASSERT_EQ(leased.study_id(), study);
  v1::UploadCheckpointResponse uploaded;
  ASSERT_TRUE(worker.Upload(leased.lease(), 2, "weights", &uploaded).ok());
  ASSERT_TRUE(worker.Complete(leased.lease(), 0.5, 2, uploaded.checkpoint_id()).ok());
  ASSERT_EQ(GetStudy(server, study).state(), v1::STUDY_COMPLETED);
  const std::string checkpoints = server.db_path() + ".checkpoints";
  ASSERT_EQ(FilesIn(checkpoints), 1u);

  // The other study still runs: refused, and nothing changes.
  v1::DeleteStudyResponse refused;
  grpc::Status s = Delete(server, other, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "study " + std::to_string(other) +
                                   " is running: stop it first (tunectl stop " +
                                   std::to_string(other) + "), then delete it");

  v1::DeleteStudyResponse deleted;
  s = Delete(server, study, &deleted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(deleted.study_id(), study);
  EXPECT_EQ(deleted.name(), "random-test");
  EXPECT_EQ(deleted.trials_deleted(), 1);
  EXPECT_EQ(deleted.checkpoints_deleted(), 1);
  EXPECT_EQ(FilesIn(checkpoints), 0u);
  grpc::ClientContext context;
  v1::GetStudyRequest get;
  get.set_study_id(study);
  v1::Study gone;
  EXPECT_EQ(server.studies().GetStudy(&context, get, &gone).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete(server, study, &deleted).error_code(), grpc::StatusCode::NOT_FOUND);

  server.Restart();
  grpc::ClientContext after;
  v1::ListStudiesRequest list;
  v1::ListStudiesResponse listed;
  ASSERT_TRUE(server.studies().ListStudies(&after, list, &listed).ok());
  ASSERT_EQ(listed.studies_size(), 1);
  EXPECT_EQ(listed.studies(0).study_id(), other);
  EXPECT_EQ(GetStudy(server, other).state(), v1::STUDY_RUNNING);
}

}  // namespace
}  // namespace tuner::testing
