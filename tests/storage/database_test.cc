#include "storage/database.h"

#include <sqlite3.h>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace tuner::storage {
namespace {

StudyRow Study(int64_t id) {
  StudyRow row;
  row.id = id;
  row.name = "s" + std::to_string(id);
  row.spec_yaml = "name: x";
  row.state = "STUDY_RUNNING";
  row.created_at = 1.5;
  return row;
}

TrialRow Trial(int64_t id, int64_t study_id, int64_t number) {
  TrialRow row;
  row.id = id;
  row.study_id = study_id;
  row.number = number;
  row.params_json = R"({"units":128})";
  row.state = "PENDING";
  row.created_at = 2.5;
  return row;
}

TEST(Database, FreshFileIsMigratedToTheCurrentSchema) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->SchemaVersion(), kSchemaVersion);
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_TRUE(snapshot->studies.empty());
}

TEST(Database, RowsSurviveReopen) {
  testing::TempDir dir;
  {
    auto db = Database::Open(dir.File("t.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Begin().ok());
    ASSERT_TRUE((*db)->Write(Study(7)).ok());
    TrialRow trial = Trial(11, 7, 0);
    trial.value = 0.875;
    trial.state = "COMPLETED";
    trial.metrics_json = R"({"val_loss":0.3})";
    ASSERT_TRUE((*db)->Write(trial).ok());
    ASSERT_TRUE((*db)->Write(Trial(12, 7, 1)).ok());
    IntermediateRow value;
    value.trial_id = 11;
    value.epoch = 1;
    value.value = 0.5;
    ASSERT_TRUE((*db)->Write(value).ok());
    ASSERT_TRUE((*db)->Commit().ok());
  }
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->studies.size(), 1u);
  EXPECT_EQ(snapshot->studies[0].name, "s7");
  ASSERT_EQ(snapshot->trials.size(), 2u);
  EXPECT_EQ(snapshot->trials[0].state, "COMPLETED");
  ASSERT_TRUE(snapshot->trials[0].value.has_value());
  EXPECT_DOUBLE_EQ(*snapshot->trials[0].value, 0.875);
  EXPECT_FALSE(snapshot->trials[1].value.has_value());
  EXPECT_EQ(snapshot->trials[0].metrics_json, R"({"val_loss":0.3})");
  auto values = (*db)->LoadIntermediates(11);
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 1u);
  EXPECT_DOUBLE_EQ((*values)[0].value, 0.5);
}

TEST(Database, DeletingAStudyRemovesEveryRowThatNamesItAndNothingElse) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  for (int64_t study : {1, 2}) {
    ASSERT_TRUE((*db)->Write(Study(study)).ok());
    ASSERT_TRUE((*db)->Write(Trial(study * 10, study, 0)).ok());
    IntermediateRow value;
    value.trial_id = study * 10;
    value.epoch = 1;
    ASSERT_TRUE((*db)->Write(value).ok());
    CheckpointRow checkpoint;
    checkpoint.id = "ckpt" + std::to_string(study);
    checkpoint.trial_id = study * 10;
    checkpoint.path = checkpoint.id;
    ASSERT_TRUE((*db)->Write(checkpoint).ok());
    EnsembleRow ensemble;
    ensemble.id = study;
    ensemble.study_id = study;
    ensemble.state = "ENSEMBLE_COMPLETED";
    ASSERT_TRUE((*db)->Write(ensemble).ok());
  }
  ASSERT_TRUE((*db)->Write(StudyDeletion{1}).ok());
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->studies.size(), 1u);
  EXPECT_EQ(snapshot->studies[0].id, 2);
  ASSERT_EQ(snapshot->trials.size(), 1u);
  EXPECT_EQ(snapshot->trials[0].id, 20);
  ASSERT_EQ(snapshot->ensembles.size(), 1u);
  EXPECT_EQ(snapshot->ensembles[0].id, 2);
  auto checkpoints = (*db)->LoadCheckpoints();
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_EQ(checkpoints->size(), 1u);
  EXPECT_EQ((*checkpoints)[0].id, "ckpt2");
  EXPECT_TRUE((*db)->LoadIntermediates(10)->empty());
  EXPECT_EQ((*db)->LoadIntermediates(20)->size(), 1u);
  // Deleting a study that is not there changes nothing and is no error (a retried batch).
  EXPECT_TRUE((*db)->Write(StudyDeletion{1}).ok());
}

TEST(Database, RewritingARowReplacesIt) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Write(Study(1)).ok());
  TrialRow trial = Trial(1, 1, 0);
  ASSERT_TRUE((*db)->Write(trial).ok());
  trial.state = "RUNNING";
  trial.attempt = 1;
  ASSERT_TRUE((*db)->Write(trial).ok());
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->trials.size(), 1u);
  EXPECT_EQ(snapshot->trials[0].state, "RUNNING");
  EXPECT_EQ(snapshot->trials[0].attempt, 1);
}

TEST(Database, TrialOfAMissingStudyIsRefused) {
  testing::TempDir dir;
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  absl::Status s = (*db)->Write(Trial(1, 99, 0));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;  // constraint violation
}

TEST(Database, NewerSchemaIsRefusedWithoutTouchingTheFile) {
  testing::TempDir dir;
  { ASSERT_TRUE(Database::Open(dir.File("t.db")).ok()); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("t.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(db.status().message().find("newer"), std::string::npos) << db.status();
}

TEST(Database, UnopenablePathNamesThePath) {
  auto db = Database::Open("/nonexistent-dir/x/t.db");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("/nonexistent-dir/x/t.db"), std::string::npos);
}

TEST(Database, TwoConnectionsWriteTheSameFile) {
  testing::TempDir dir;
  auto a = Database::Open(dir.File("t.db"));
  auto b = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Write(Study(1)).ok());
  ASSERT_TRUE((*b)->Write(Study(2)).ok());
  auto snapshot = (*a)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->studies.size(), 2u);
}

TEST(Database, VersionOneDbGainsTheEnsemblesTableAndKeepsItsRows) {
  testing::TempDir dir;
  {
    auto db = Database::Open(dir.File("t.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Write(Study(3)).ok());
  }
  // Turn it back into a schema 1 db, as an older tuner-server left it.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("t.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "DROP INDEX ensembles_by_study; DROP TABLE ensembles; "
                         "ALTER TABLE trials DROP COLUMN lease_token; "
                         "ALTER TABLE studies DROP COLUMN request_id; "
                         "UPDATE schema_version SET version = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);

  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->SchemaVersion(), kSchemaVersion);
  EnsembleRow ensemble;
  ensemble.id = 5;
  ensemble.study_id = 3;
  ensemble.k = 2;
  ensemble.member_trial_ids_json = "[11,12]";
  ensemble.state = "ENSEMBLE_COMPLETED";
  ensemble.test_accuracy = 0.82;
  ensemble.member_accuracies_json = "[0.77,0.75]";
  ensemble.test_images = 10000;
  ensemble.created_at = 4;
  ensemble.finished_at = 5;
  ASSERT_TRUE((*db)->Write(ensemble).ok());
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->studies.size(), 1u);
  ASSERT_EQ(snapshot->ensembles.size(), 1u);
  const EnsembleRow& got = snapshot->ensembles[0];
  EXPECT_EQ(got.study_id, 3);
  EXPECT_EQ(got.k, 2);
  EXPECT_EQ(got.member_trial_ids_json, "[11,12]");
  EXPECT_EQ(got.state, "ENSEMBLE_COMPLETED");
  ASSERT_TRUE(got.test_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*got.test_accuracy, 0.82);
  EXPECT_EQ(got.member_accuracies_json, "[0.77,0.75]");
  EXPECT_EQ(got.test_images, 10000);
}

TEST(Database, LeaseTokensSurviveReopen) {
  testing::TempDir dir;
  {
    auto db = Database::Open(dir.File("t.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Write(Study(1)).ok());
    TrialRow trial = Trial(1, 1, 0);
    trial.state = "RUNNING";
    trial.attempt = 1;
    trial.worker_id = 4;
    trial.lease_token = "0123456789abcdef0123456789abcdef";
    ASSERT_TRUE((*db)->Write(trial).ok());
    EnsembleRow ensemble;
    ensemble.id = 2;
    ensemble.study_id = 1;
    ensemble.k = 1;
    ensemble.state = "ENSEMBLE_RUNNING";
    ensemble.attempt = 1;
    ensemble.worker_id = 4;
    ensemble.lease_token = "fedcba9876543210fedcba9876543210";
    ASSERT_TRUE((*db)->Write(ensemble).ok());
  }
  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok());
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->trials.size(), 1u);
  EXPECT_EQ(snapshot->trials[0].lease_token, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(snapshot->trials[0].worker_id, 4);
  ASSERT_EQ(snapshot->ensembles.size(), 1u);
  EXPECT_EQ(snapshot->ensembles[0].lease_token, "fedcba9876543210fedcba9876543210");
}

TEST(Database, VersionTwoDbGainsLeaseTokenColumnsAndKeepsItsRows) {
  testing::TempDir dir;
  {
    auto db = Database::Open(dir.File("t.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Write(Study(1)).ok());
    TrialRow trial = Trial(1, 1, 0);
    trial.state = "RUNNING";
    trial.attempt = 1;
    ASSERT_TRUE((*db)->Write(trial).ok());
  }
  // Turn it back into a schema 2 db, as the previous tuner-server left it.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("t.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "ALTER TABLE trials DROP COLUMN lease_token; "
                         "ALTER TABLE ensembles DROP COLUMN lease_token; "
                         "ALTER TABLE studies DROP COLUMN request_id; "
                         "UPDATE schema_version SET version = 2",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);

  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->SchemaVersion(), kSchemaVersion);
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->trials.size(), 1u);
  EXPECT_EQ(snapshot->trials[0].state, "RUNNING");
  EXPECT_EQ(snapshot->trials[0].lease_token, "");
}

TEST(Database, VersionThreeDbGainsStudyRequestIdsAndKeepsItsStudies) {
  testing::TempDir dir;
  {
    auto db = Database::Open(dir.File("t.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Write(Study(1)).ok());
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("t.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "ALTER TABLE studies DROP COLUMN request_id; "
                         "UPDATE schema_version SET version = 3",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);

  auto db = Database::Open(dir.File("t.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->SchemaVersion(), 4);
  StudyRow with_id = Study(2);
  with_id.request_id = "retry-key";
  ASSERT_TRUE((*db)->Write(with_id).ok());
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->studies.size(), 2u);
  EXPECT_EQ(snapshot->studies[0].request_id, "");
  EXPECT_EQ(snapshot->studies[1].request_id, "retry-key");
}

}  // namespace
}  // namespace tuner::storage
