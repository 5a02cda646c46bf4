// Database: one SQLite connection with the tuner's schema, migrations and prepared statements.
// Thread-compatible: a Database is used by one thread at a time (the GroupCommitter's writer
// thread owns the writing connection; readers open their own).
#ifndef TUNER_STORAGE_DATABASE_H_
#define TUNER_STORAGE_DATABASE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/rows.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tuner::storage {

// The schema version this build writes. Older dbs are migrated forward on open; newer ones
// are refused (FAILED_PRECONDITION) so an old binary never corrupts a newer db.
inline constexpr int kSchemaVersion = 4;

class Database {
 public:
  // Opens (creating when missing) and migrates. WAL mode, synchronous=FULL: a commit that
  // returned is on disk and survives kill -9 and power loss. A write that finds the db locked
  // by another process waits up to busy_timeout_ms, then fails with UNAVAILABLE.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                         int busy_timeout_ms = 5000);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  int SchemaVersion() const { return schema_version_; }

  absl::Status Begin();
  absl::Status Commit();
  absl::Status Rollback();
  absl::Status Savepoint();
  absl::Status ReleaseSavepoint();
  absl::Status RollbackToSavepoint();

  absl::Status Write(const WriteOp& op);

  absl::StatusOr<Snapshot> LoadSnapshot();
  absl::StatusOr<std::vector<IntermediateRow>> LoadIntermediates(int64_t trial_id);
  absl::StatusOr<std::vector<IntermediateRow>> LoadStudyIntermediates(int64_t study_id);
  absl::StatusOr<std::vector<CheckpointRow>> LoadCheckpoints();

 private:
  Database(sqlite3* db, std::string path);
  absl::Status Exec(const char* sql);
  absl::Status Migrate();
  absl::Status Error(const char* what) const;
  sqlite3_stmt* Prepared(int index, const char* sql);
  absl::StatusOr<std::vector<IntermediateRow>> QueryIntermediates(int index, const char* sql,
                                                                  int64_t id);

  const std::string path_;  // for error messages
  sqlite3* const db_;
  int schema_version_ = 0;
  std::vector<sqlite3_stmt*> statements_;  // by index, prepared on first use
};

}  // namespace tuner::storage

#endif  // TUNER_STORAGE_DATABASE_H_
