// Checkpoints through the gRPC API (issue 13 row 8): an upload that is cancelled, broken or
// over a limit leaves nothing; a trial keeps its newest uploads only; the disk budget; a
// checkpoint is bound to its trial's lease for download and CompleteTrial; what nothing needs
// any more is collected, also at start-up.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

std::set<std::string> FilesIn(const std::string& dir) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files.insert(entry.path().filename().string());
  }
  return files;
}

// Waits up to 5 s for the directory to hold exactly `want` (the server finishes a call after
// the client saw its end).
std::set<std::string> AwaitFiles(const std::string& dir, const std::set<std::string>& want) {
  std::set<std::string> files;
  for (int i = 0; i < 250; ++i) {
    files = FilesIn(dir);
    if (files == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return files;
}

std::string CheckpointDir(TestServer& server) { return server.db_path() + ".checkpoints"; }

std::set<std::string> IdsOfTrial(TestServer& server, int64_t trial_id) {
  std::set<std::string> ids;
  for (const auto& row : server.server().scheduler().Checkpoints()) {
    if (row.trial_id == trial_id) ids.insert(row.id);
  }
  return ids;
}

std::string KeepSpec(int trials) {
  return RandomSpec(trials, 2) + "keep_checkpoints: true\n";
}

v1::CheckpointChunk FirstChunk(const v1::Lease& lease, int64_t declared, std::string data) {
  v1::CheckpointChunk chunk;
  *chunk.mutable_lease() = lease;
  chunk.set_epoch(1);
  chunk.set_size_bytes(declared);
  chunk.set_data(std::move(data));
  return chunk;
}

TEST(Checkpoints, AnUploadCancelledMidWayLeavesNoCheckpointAndNoFile) {
  TestServer server;
  CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  grpc::ClientContext context;
  v1::UploadCheckpointResponse response;
  auto writer = server.workers().UploadCheckpoint(&context, &response);
  ASSERT_TRUE(writer->Write(FirstChunk(trial.lease(), 4 << 20, std::string(1 << 20, 'a'))));
  v1::CheckpointChunk more;
  more.set_data(std::string(1 << 20, 'b'));
  ASSERT_TRUE(writer->Write(more));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the server has read them
  context.TryCancel();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(AwaitFiles(CheckpointDir(server), {}), std::set<std::string>{});
  EXPECT_TRUE(server.server().scheduler().Checkpoints().empty());
  // The reservation goes back when the call is done (OnDone), which may come a little later.
  for (int i = 0; i < 250 && server.server().checkpoint_store().used_bytes() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server.server().checkpoint_store().used_bytes(), 0);
}

TEST(Checkpoints, AnUploadThatEndsShortOfItsDeclaredSizeIsDiscarded) {
  TestServer server;
  CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  grpc::ClientContext context;
  v1::UploadCheckpointResponse response;
  auto writer = server.workers().UploadCheckpoint(&context, &response);
  ASSERT_TRUE(writer->Write(FirstChunk(trial.lease(), 2000, std::string(1000, 'a'))));
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("ended after 1000 of the 2000 bytes"));
  // Without a declared size the server could not tell a whole upload from a cut one.
  grpc::ClientContext undeclared_context;
  auto undeclared = server.workers().UploadCheckpoint(&undeclared_context, &response);
  ASSERT_TRUE(undeclared->Write(FirstChunk(trial.lease(), 0, "abc")));
  undeclared->WritesDone();
  EXPECT_EQ(undeclared->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(AwaitFiles(CheckpointDir(server), {}), std::set<std::string>{});
  EXPECT_TRUE(server.server().scheduler().Checkpoints().empty());
}

TEST(Checkpoints, MaxCheckpointBytesRefusesAnUploadAsSoonAsItPassesTheLimit) {
  server::ServerOptions options;
  options.max_checkpoint_bytes = 1000;
  TestServer server(options);
  CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  v1::UploadCheckpointResponse response;
  grpc::Status declared_too_big = worker.Upload(trial.lease(), 1, std::string(1001, 'x'),
                                                &response);
  EXPECT_EQ(declared_too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(declared_too_big.error_message(), HasSubstr("limit of 1000 bytes"));
  // One that declares a fitting size and sends more is cut off where it passes it.
  grpc::ClientContext context;
  auto writer = server.workers().UploadCheckpoint(&context, &response);
  writer->Write(FirstChunk(trial.lease(), 900, std::string(600, 'a')));
  v1::CheckpointChunk more;
  more.set_data(std::string(600, 'b'));
  writer->Write(more);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(AwaitFiles(CheckpointDir(server), {}), std::set<std::string>{});
  ASSERT_TRUE(worker.Upload(trial.lease(), 1, std::string(1000, 'x'), &response).ok());
}

TEST(Checkpoints, ATrialKeepsItsNewestUploadsOnly) {
  server::ServerOptions options;
  options.checkpoints_per_trial = 2;
  TestServer server(options);
  CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    v1::UploadCheckpointResponse uploaded;
    ASSERT_TRUE(worker.Upload(trial.lease(), 1, "epoch " + std::to_string(i), &uploaded).ok());
    ids.push_back(uploaded.checkpoint_id());
  }
  const std::set<std::string> newest{ids[18], ids[19]};
  EXPECT_EQ(IdsOfTrial(server, trial.lease().trial_id()), newest);
  EXPECT_EQ(AwaitFiles(CheckpointDir(server), {ids[18] + ".ckpt", ids[19] + ".ckpt"}),
            (std::set<std::string>{ids[18] + ".ckpt", ids[19] + ".ckpt"}));
  std::string data, sha;
  EXPECT_EQ(worker.Download(trial.lease(), ids[0], &data, &sha).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(Checkpoints, AnUploadPastTheDiskBudgetIsRefused) {
  server::ServerOptions options;
  options.checkpoint_disk_budget = 3000;
  TestServer server(options);
  CreateStudy(server, KeepSpec(2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse first, second;
  ASSERT_TRUE(worker.Acquire(&first).ok());
  ASSERT_TRUE(worker.Acquire(&second).ok());
  v1::UploadCheckpointResponse uploaded;
  ASSERT_TRUE(worker.Upload(first.lease(), 1, std::string(2000, 'a'), &uploaded).ok());
  v1::UploadCheckpointResponse refused;
  grpc::Status status = worker.Upload(second.lease(), 1, std::string(2000, 'b'), &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("disk budget of 3000 bytes"));
  ASSERT_TRUE(worker.Upload(second.lease(), 1, std::string(1000, 'b'), &uploaded).ok());
  EXPECT_EQ(server.server().checkpoint_store().used_bytes(), 3000);
}

TEST(Checkpoints, ADownloadNeedsTheLeaseOfTheCheckpointsTrial) {
  TestServer server;
  CreateStudy(server, RandomSpec(2, 2));
  RawWorker owner(&server.workers(), "owner");
  RawWorker other(&server.workers(), "other");
  v1::AcquireTrialResponse owned, others;
  ASSERT_TRUE(owner.Acquire(&owned).ok());
  ASSERT_TRUE(other.Acquire(&others).ok());
  v1::UploadCheckpointResponse uploaded;
  ASSERT_TRUE(owner.Upload(owned.lease(), 1, "weights", &uploaded).ok());
  const std::string id = uploaded.checkpoint_id();
  std::string data, sha;
  ASSERT_TRUE(owner.Download(owned.lease(), id, &data, &sha).ok());
  EXPECT_EQ(data, "weights");
  // Another worker's own lease covers only its own trial.
  grpc::Status status = other.Download(others.lease(), id, &data, &sha);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("belongs to trial"));
  // A forged lease of the owner's trial (the token is not known) and a bare worker id.
  v1::Lease forged = owned.lease();
  forged.set_worker_id(other.id());
  forged.set_token(std::string(32, '0'));
  EXPECT_EQ(other.Download(forged, id, &data, &sha).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(other.Download(v1::Lease(), id, &data, &sha).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Nor may another trial complete with it.
  grpc::Status completed = other.Complete(others.lease(), 0.5, 2, id);
  EXPECT_EQ(completed.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(owner.Complete(owned.lease(), 0.5, 2, id).ok());
  // A finished trial's lease no longer downloads anything.
  EXPECT_EQ(owner.Download(owned.lease(), id, &data, &sha).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(Checkpoints, WhatNoTrialNeedsIsCollectedUnlessTheStudyKeepsCheckpoints) {
  TestServer server;
  CreateStudy(server, RandomSpec(1, 2));
  CreateStudy(server, KeepSpec(1));
  RawWorker worker(&server.workers(), "w");
  std::map<std::string, std::string> kept;  // study name -> recorded checkpoint
  for (int i = 0; i < 2; ++i) {
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(worker.Acquire(&trial).ok());
    ASSERT_TRUE(trial.has_trial());
    v1::UploadCheckpointResponse superseded, recorded;
    ASSERT_TRUE(worker.Upload(trial.lease(), 1, "epoch 1", &superseded).ok());
    ASSERT_TRUE(worker.Upload(trial.lease(), 2, "epoch 2", &recorded).ok());
    ASSERT_TRUE(worker.Complete(trial.lease(), 0.5, 2, recorded.checkpoint_id()).ok());
    kept[trial.study_id() == 1 ? "plain" : "keep"] = recorded.checkpoint_id();
  }
  // The plain study's trial is COMPLETED and nothing needs its checkpoints; the other keeps
  // the one it recorded.
  const std::string keep_file = kept["keep"] + ".ckpt";
  EXPECT_EQ(AwaitFiles(CheckpointDir(server), {keep_file}), std::set<std::string>{keep_file});
  std::vector<std::string> ids;
  for (const auto& row : server.server().scheduler().Checkpoints()) ids.push_back(row.id);
  EXPECT_EQ(ids, std::vector<std::string>{kept["keep"]});

  // At start-up: files no row names (a temp file of an upload cut by a crash) are removed.
  server.Stop();
  { std::ofstream(CheckpointDir(server) + "/.0123.ckpt.tmp-abcdef") << "partial"; }
  { std::ofstream(CheckpointDir(server) + "/" + std::string(32, 'e') + ".ckpt") << "orphan"; }
  server.Start();
  EXPECT_EQ(FilesIn(CheckpointDir(server)), std::set<std::string>{keep_file});
  EXPECT_EQ(server.server().checkpoint_store().used_bytes(), 7);
}

}  // namespace
}  // namespace tuner::testing
