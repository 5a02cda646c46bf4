#include "storage/database.h"

#include <sqlite3.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "spdlog/spdlog.h"

namespace tuner::storage {
namespace {

// Migration i brings the schema from version i to i + 1. Append only; never edit a shipped one.
const char* const kMigrations[] = {
    // 0 -> 1: the first schema.
    R"sql(
CREATE TABLE studies (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  spec_yaml   TEXT NOT NULL,
  state       TEXT NOT NULL,
  created_at  REAL NOT NULL,
  finished_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE trials (
  id             INTEGER PRIMARY KEY,
  study_id       INTEGER NOT NULL REFERENCES studies(id),
  number         INTEGER NOT NULL,
  params_json    TEXT NOT NULL,
  state          TEXT NOT NULL,
  value          REAL,
  metrics_json   TEXT NOT NULL DEFAULT '{}',
  bracket        INTEGER NOT NULL DEFAULT -1,
  rung           INTEGER NOT NULL DEFAULT 0,
  budget_epochs  INTEGER NOT NULL DEFAULT 0,
  epochs_done    INTEGER NOT NULL DEFAULT 0,
  attempt        INTEGER NOT NULL DEFAULT 0,
  retries        INTEGER NOT NULL DEFAULT 0,
  worker_id      INTEGER NOT NULL DEFAULT 0,
  lease_deadline REAL NOT NULL DEFAULT 0,
  checkpoint_id  TEXT NOT NULL DEFAULT '',
  fail_reason    TEXT NOT NULL DEFAULT '',
  created_at     REAL NOT NULL,
  started_at     REAL NOT NULL DEFAULT 0,
  finished_at    REAL NOT NULL DEFAULT 0,
  UNIQUE (study_id, number)
);
CREATE TABLE intermediate_values (
  trial_id     INTEGER NOT NULL REFERENCES trials(id),
  execution    INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  value        REAL NOT NULL,
  metrics_json TEXT NOT NULL DEFAULT '{}',
  reported_at  REAL NOT NULL,
  PRIMARY KEY (trial_id, execution, epoch)
) WITHOUT ROWID;
CREATE TABLE workers (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL,
  host          TEXT NOT NULL,
  devices_json  TEXT NOT NULL,
  registered_at REAL NOT NULL,
  last_seen_at  REAL NOT NULL
);
CREATE TABLE checkpoints (
  id         TEXT PRIMARY KEY,
  trial_id   INTEGER NOT NULL REFERENCES trials(id),
  epoch      INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  sha256     TEXT NOT NULL,
  path       TEXT NOT NULL,
  created_at REAL NOT NULL
);
CREATE INDEX trials_by_study ON trials(study_id, number);
)sql",
    // 1 -> 2: top-k ensembles (tunectl ensemble).
    R"sql(
CREATE TABLE ensembles (
  id                     INTEGER PRIMARY KEY,
  study_id               INTEGER NOT NULL REFERENCES studies(id),
  k                      INTEGER NOT NULL,
  member_trial_ids_json  TEXT NOT NULL,
  state                  TEXT NOT NULL,
  test_accuracy          REAL,
  member_accuracies_json TEXT NOT NULL DEFAULT '[]',
  test_images            INTEGER NOT NULL DEFAULT 0,
  attempt                INTEGER NOT NULL DEFAULT 0,
  retries                INTEGER NOT NULL DEFAULT 0,
  worker_id              INTEGER NOT NULL DEFAULT 0,
  fail_reason            TEXT NOT NULL DEFAULT '',
  created_at             REAL NOT NULL,
  finished_at            REAL NOT NULL DEFAULT 0
);
CREATE INDEX ensembles_by_study ON ensembles(study_id, id);
)sql",
    // 2 -> 3: each lease's secret token, so a lease survives a restart and cannot be forged.
    // Leases of an older server have none: the scheduler gives them one nobody knows (they run
    // out and are re-queued).
    R"sql(
ALTER TABLE trials ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';
ALTER TABLE ensembles ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';
)sql",
    // 3 -> 4: CreateStudy's request_id, so a retried call finds the study the first one created,
    // also after a restart. Empty for a study created without one (and every older study).
    // Not a UNIQUE column: INSERT OR REPLACE would delete the other study; the scheduler keeps
    // request ids unique.
    R"sql(
ALTER TABLE studies ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion,
              "one migration per schema version");

// Prepared statement slots.
enum StatementIndex {
  kPutStudy,
  kPutTrial,
  kPutIntermediate,
  kPutWorker,
  kPutCheckpoint,
  kPutEnsemble,
  kDeleteCheckpoint,
  kDeleteStudyIntermediates,
  kDeleteStudyCheckpoints,
  kDeleteStudyEnsembles,
  kDeleteStudyTrials,
  kDeleteStudy,
  kSelectStudies,
  kSelectTrials,
  kSelectWorkers,
  kSelectIntermediates,
  kSelectStudyIntermediates,
  kSelectCheckpoints,
  kSelectEnsembles,
  kStatementCount
};

// A text column. Invalid UTF-8 (a fail reason cut mid-character by an older build, bytes
// written by another program) is loaded with U+FFFD in its place and logged: protobuf string
// fields must be valid UTF-8, and one bad row would otherwise fail every reply that carries it.
std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) return std::string();
  std::string_view view(reinterpret_cast<const char*>(text),
                        static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
  std::optional<size_t> bad = FirstInvalidUtf8(view);
  if (!bad) return std::string(view);
  const char* table = sqlite3_column_table_name(stmt, column);
  const unsigned char* key = sqlite3_column_text(stmt, 0);
  spdlog::warn("db: {}.{} of the row with {} {} is not valid UTF-8 (byte {}): loaded with "
               "U+FFFD in place of each invalid byte",
               table ? table : "?", sqlite3_column_name(stmt, column),
               sqlite3_column_name(stmt, 0), key ? reinterpret_cast<const char*>(key) : "?",
               *bad);
  return RepairUtf8(view);
}

void BindText(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return absl::UnavailableError(absl::StrCat("cannot open db ", path, ": ", message));
  }
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  if (auto s = db->Exec("PRAGMA journal_mode=WAL"); !s.ok()) return s;
  if (auto s = db->Exec("PRAGMA synchronous=FULL"); !s.ok()) return s;
  if (auto s = db->Exec("PRAGMA foreign_keys=ON"); !s.ok()) return s;
  if (auto s = db->Migrate(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("db ", path, ": ", s.message()));
  }
  return db;
}

Database::Database(sqlite3* db, std::string path)
    : path_(std::move(path)), db_(db), statements_(kStatementCount, nullptr) {}

Database::~Database() {
  for (sqlite3_stmt* stmt : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::Status Database::Error(const char* what) const {
  int code = sqlite3_errcode(db_);
  std::string message = absl::StrCat("db ", path_, ": ", what, ": ", sqlite3_errmsg(db_));
  // A locked or busy db and a full disk are conditions an operator can fix; the rest is a bug
  // or corruption.
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(message);
  if (code == SQLITE_FULL || code == SQLITE_IOERR) return absl::ResourceExhaustedError(message);
  if (code == SQLITE_CONSTRAINT) return absl::AlreadyExistsError(message);
  return absl::InternalError(message);
}

absl::Status Database::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    sqlite3_free(error);  // the same text as sqlite3_errmsg, which Error adds
    return Error(sql);
  }
  return absl::OkStatus();
}

absl::Status Database::Migrate() {
  if (auto s = Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      !s.ok()) {
    return s;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT version FROM schema_version", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    return Error("read schema_version");
  }
  int version = 0;
  bool has_row = sqlite3_step(stmt) == SQLITE_ROW;
  if (has_row) version = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("schema version ", version, " is newer than this build's ", kSchemaVersion,
                     "; use a newer tuner-server"));
  }
  while (version < kSchemaVersion) {
    if (auto s = Begin(); !s.ok()) return s;
    absl::Status s = Exec(kMigrations[version]);
    if (s.ok()) {
      std::string bump = has_row ? absl::StrCat("UPDATE schema_version SET version = ", version + 1)
                                 : absl::StrCat("INSERT INTO schema_version VALUES (", version + 1, ")");
      s = Exec(bump.c_str());
    }
    if (!s.ok()) {
      Rollback().IgnoreError();
      return absl::Status(s.code(), absl::StrCat("migration to schema version ", version + 1,
                                                 " failed: ", s.message()));
    }
    if (auto c = Commit(); !c.ok()) return c;
    has_row = true;
    ++version;
  }
  schema_version_ = version;
  return absl::OkStatus();
}

absl::Status Database::Begin() { return Exec("BEGIN IMMEDIATE"); }
absl::Status Database::Commit() { return Exec("COMMIT"); }
absl::Status Database::Rollback() { return Exec("ROLLBACK"); }
absl::Status Database::Savepoint() { return Exec("SAVEPOINT batch"); }
absl::Status Database::ReleaseSavepoint() { return Exec("RELEASE batch"); }
absl::Status Database::RollbackToSavepoint() {
  if (auto s = Exec("ROLLBACK TO batch"); !s.ok()) return s;
  return Exec("RELEASE batch");
}

sqlite3_stmt* Database::Prepared(int index, const char* sql) {
  sqlite3_stmt*& stmt = statements_[index];
  if (stmt == nullptr) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      stmt = nullptr;
      return nullptr;
    }
  } else {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
  return stmt;
}

namespace {

// Steps a bound write statement to completion and resets it.
bool StepDone(sqlite3_stmt* stmt) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE;
}

}  // namespace

absl::Status Database::Write(const WriteOp& op) {
  sqlite3_stmt* stmt = nullptr;
  const char* what = "";
  if (const auto* study = std::get_if<StudyRow>(&op)) {
    what = "write study";
    stmt = Prepared(kPutStudy,
                    "INSERT OR REPLACE INTO studies (id, name, spec_yaml, state, created_at, "
                    "finished_at, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!stmt) return Error(what);
    sqlite3_bind_int64(stmt, 1, study->id);
    BindText(stmt, 2, study->name);
    BindText(stmt, 3, study->spec_yaml);
    BindText(stmt, 4, study->state);
    sqlite3_bind_double(stmt, 5, study->created_at);
    sqlite3_bind_double(stmt, 6, study->finished_at);
    BindText(stmt, 7, study->request_id);
  } else if (const auto* trial = std::get_if<TrialRow>(&op)) {
    what = "write trial";
    stmt = Prepared(kPutTrial,
                    "INSERT OR REPLACE INTO trials (id, study_id, number, params_json, state, "
                    "value, metrics_json, bracket, rung, budget_epochs, epochs_done, attempt, "
                    "retries, worker_id, lease_deadline, checkpoint_id, fail_reason, created_at, "
                    "started_at, finished_at, lease_token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                    "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)");
    if (!stmt) return Error(what);
    sqlite3_bind_int64(stmt, 1, trial->id);
    sqlite3_bind_int64(stmt, 2, trial->study_id);
    sqlite3_bind_int64(stmt, 3, trial->number);
    BindText(stmt, 4, trial->params_json);
    BindText(stmt, 5, trial->state);
    if (trial->value) {
      sqlite3_bind_double(stmt, 6, *trial->value);
    } else {
      sqlite3_bind_null(stmt, 6);
    }
    BindText(stmt, 7, trial->metrics_json);
    sqlite3_bind_int(stmt, 8, trial->bracket);
    sqlite3_bind_int(stmt, 9, trial->rung);
    sqlite3_bind_int(stmt, 10, trial->budget_epochs);
    sqlite3_bind_int(stmt, 11, trial->epochs_done);
    sqlite3_bind_int(stmt, 12, trial->attempt);
    sqlite3_bind_int(stmt, 13, trial->retries);
    sqlite3_bind_int64(stmt, 14, trial->worker_id);
    sqlite3_bind_double(stmt, 15, trial->lease_deadline);
    BindText(stmt, 16, trial->checkpoint_id);
    BindText(stmt, 17, trial->fail_reason);
    sqlite3_bind_double(stmt, 18, trial->created_at);
    sqlite3_bind_double(stmt, 19, trial->started_at);
    sqlite3_bind_double(stmt, 20, trial->finished_at);
    BindText(stmt, 21, trial->lease_token);
  } else if (const auto* value = std::get_if<IntermediateRow>(&op)) {
    what = "write intermediate value";
    stmt = Prepared(kPutIntermediate,
                    "INSERT OR REPLACE INTO intermediate_values (trial_id, execution, epoch, "
                    "value, metrics_json, reported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!stmt) return Error(what);
    sqlite3_bind_int64(stmt, 1, value->trial_id);
    sqlite3_bind_int(stmt, 2, value->execution);
    sqlite3_bind_int(stmt, 3, value->epoch);
    sqlite3_bind_double(stmt, 4, value->value);
    BindText(stmt, 5, value->metrics_json);
    sqlite3_bind_double(stmt, 6, value->reported_at);
  } else if (const auto* worker = std::get_if<WorkerRow>(&op)) {
    what = "write worker";
    stmt = Prepared(kPutWorker,
                    "INSERT OR REPLACE INTO workers (id, name, host, devices_json, "
                    "registered_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!stmt) return Error(what);
    sqlite3_bind_int64(stmt, 1, worker->id);
    BindText(stmt, 2, worker->name);
    BindText(stmt, 3, worker->host);
    BindText(stmt, 4, worker->devices_json);
    sqlite3_bind_double(stmt, 5, worker->registered_at);
    sqlite3_bind_double(stmt, 6, worker->last_seen_at);
  } else if (const auto* checkpoint = std::get_if<CheckpointRow>(&op)) {
    what = "write checkpoint";
    stmt = Prepared(kPutCheckpoint,
                    "INSERT OR REPLACE INTO checkpoints (id, trial_id, epoch, size_bytes, sha256, "
                    "path, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!stmt) return Error(what);
    BindText(stmt, 1, checkpoint->id);
    sqlite3_bind_int64(stmt, 2, checkpoint->trial_id);
    sqlite3_bind_int(stmt, 3, checkpoint->epoch);
    sqlite3_bind_int64(stmt, 4, checkpoint->size_bytes);
    BindText(stmt, 5, checkpoint->sha256);
    BindText(stmt, 6, checkpoint->path);
    sqlite3_bind_double(stmt, 7, checkpoint->created_at);
  } else if (const auto* ensemble = std::get_if<EnsembleRow>(&op)) {
    what = "write ensemble";
    stmt = Prepared(kPutEnsemble,
                    "INSERT OR REPLACE INTO ensembles (id, study_id, k, member_trial_ids_json, "
                    "state, test_accuracy, member_accuracies_json, test_images, attempt, retries, "
                    "worker_id, fail_reason, created_at, finished_at, lease_token) VALUES (?1, ?2, "
                    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    if (!stmt) return Error(what);
    sqlite3_bind_int64(stmt, 1, ensemble->id);
    sqlite3_bind_int64(stmt, 2, ensemble->study_id);
    sqlite3_bind_int(stmt, 3, ensemble->k);
    BindText(stmt, 4, ensemble->member_trial_ids_json);
    BindText(stmt, 5, ensemble->state);
    if (ensemble->test_accuracy) {
      sqlite3_bind_double(stmt, 6, *ensemble->test_accuracy);
    } else {
      sqlite3_bind_null(stmt, 6);
    }
    BindText(stmt, 7, ensemble->member_accuracies_json);
    sqlite3_bind_int64(stmt, 8, ensemble->test_images);
    sqlite3_bind_int(stmt, 9, ensemble->attempt);
    sqlite3_bind_int(stmt, 10, ensemble->retries);
    sqlite3_bind_int64(stmt, 11, ensemble->worker_id);
    BindText(stmt, 12, ensemble->fail_reason);
    sqlite3_bind_double(stmt, 13, ensemble->created_at);
    sqlite3_bind_double(stmt, 14, ensemble->finished_at);
    BindText(stmt, 15, ensemble->lease_token);
  } else if (const auto* deletion = std::get_if<CheckpointDeletion>(&op)) {
    what = "delete checkpoint";
    stmt = Prepared(kDeleteCheckpoint, "DELETE FROM checkpoints WHERE id = ?1");
    if (!stmt) return Error(what);
    BindText(stmt, 1, deletion->id);
  } else if (const auto* study = std::get_if<StudyDeletion>(&op)) {
    // The rows that reference others first, so no reference is ever left dangling.
    static constexpr std::pair<StatementIndex, const char*> kDeletes[] = {
        {kDeleteStudyIntermediates,
         "DELETE FROM intermediate_values WHERE trial_id IN "
         "(SELECT id FROM trials WHERE study_id = ?1)"},
        {kDeleteStudyCheckpoints,
         "DELETE FROM checkpoints WHERE trial_id IN (SELECT id FROM trials WHERE study_id = ?1)"},
        {kDeleteStudyEnsembles, "DELETE FROM ensembles WHERE study_id = ?1"},
        {kDeleteStudyTrials, "DELETE FROM trials WHERE study_id = ?1"},
    };
    what = "delete study";
    for (const auto& [index, sql] : kDeletes) {
      sqlite3_stmt* child = Prepared(index, sql);
      if (!child) return Error(what);
      sqlite3_bind_int64(child, 1, study->id);
      if (!StepDone(child)) return Error(what);
    }
    stmt = Prepared(kDeleteStudy, "DELETE FROM studies WHERE id = ?1");
    if (!stmt) return Error(what);
    sqlite3_bind_int64(stmt, 1, study->id);
  }
  if (!StepDone(stmt)) return Error(what);
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> Database::LoadSnapshot() {
  Snapshot snapshot;
  sqlite3_stmt* stmt = Prepared(
      kSelectStudies,
      "SELECT id, name, spec_yaml, state, created_at, finished_at, request_id FROM studies "
      "ORDER BY id");
  if (!stmt) return Error("read studies");
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    StudyRow row;
    row.id = sqlite3_column_int64(stmt, 0);
    row.name = Text(stmt, 1);
    row.spec_yaml = Text(stmt, 2);
    row.state = Text(stmt, 3);
    row.created_at = sqlite3_column_double(stmt, 4);
    row.finished_at = sqlite3_column_double(stmt, 5);
    row.request_id = Text(stmt, 6);
    snapshot.studies.push_back(std::move(row));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return Error("read studies");

  stmt = Prepared(kSelectTrials,
                  "SELECT id, study_id, number, params_json, state, value, metrics_json, "
                  "bracket, rung, budget_epochs, epochs_done, attempt, retries, worker_id, "
                  "lease_deadline, checkpoint_id, fail_reason, created_at, started_at, "
                  "finished_at, lease_token FROM trials ORDER BY study_id, number");
  if (!stmt) return Error("read trials");
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    TrialRow row;
    row.id = sqlite3_column_int64(stmt, 0);
    row.study_id = sqlite3_column_int64(stmt, 1);
    row.number = sqlite3_column_int64(stmt, 2);
    row.params_json = Text(stmt, 3);
    row.state = Text(stmt, 4);
    if (sqlite3_column_type(stmt, 5) != SQLITE_NULL) row.value = sqlite3_column_double(stmt, 5);
    row.metrics_json = Text(stmt, 6);
    row.bracket = sqlite3_column_int(stmt, 7);
    row.rung = sqlite3_column_int(stmt, 8);
    row.budget_epochs = sqlite3_column_int(stmt, 9);
    row.epochs_done = sqlite3_column_int(stmt, 10);
    row.attempt = sqlite3_column_int(stmt, 11);
    row.retries = sqlite3_column_int(stmt, 12);
    row.worker_id = sqlite3_column_int64(stmt, 13);
    row.lease_deadline = sqlite3_column_double(stmt, 14);
    row.checkpoint_id = Text(stmt, 15);
    row.fail_reason = Text(stmt, 16);
    row.created_at = sqlite3_column_double(stmt, 17);
    row.started_at = sqlite3_column_double(stmt, 18);
    row.finished_at = sqlite3_column_double(stmt, 19);
    row.lease_token = Text(stmt, 20);
    snapshot.trials.push_back(std::move(row));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return Error("read trials");

  stmt = Prepared(kSelectWorkers,
                  "SELECT id, name, host, devices_json, registered_at, last_seen_at FROM workers "
                  "ORDER BY id");
  if (!stmt) return Error("read workers");
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    WorkerRow row;
    row.id = sqlite3_column_int64(stmt, 0);
    row.name = Text(stmt, 1);
    row.host = Text(stmt, 2);
    row.devices_json = Text(stmt, 3);
    row.registered_at = sqlite3_column_double(stmt, 4);
    row.last_seen_at = sqlite3_column_double(stmt, 5);
    snapshot.workers.push_back(std::move(row));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return Error("read workers");

  stmt = Prepared(kSelectEnsembles,
                  "SELECT id, study_id, k, member_trial_ids_json, state, test_accuracy, "
                  "member_accuracies_json, test_images, attempt, retries, worker_id, fail_reason, "
                  "created_at, finished_at, lease_token FROM ensembles ORDER BY id");
  if (!stmt) return Error("read ensembles");
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    EnsembleRow row;
    row.id = sqlite3_column_int64(stmt, 0);
    row.study_id = sqlite3_column_int64(stmt, 1);
    row.k = sqlite3_column_int(stmt, 2);
    row.member_trial_ids_json = Text(stmt, 3);
    row.state = Text(stmt, 4);
    if (sqlite3_column_type(stmt, 5) != SQLITE_NULL) {
      row.test_accuracy = sqlite3_column_double(stmt, 5);
    }
    row.member_accuracies_json = Text(stmt, 6);
    row.test_images = sqlite3_column_int64(stmt, 7);
    row.attempt = sqlite3_column_int(stmt, 8);
    row.retries = sqlite3_column_int(stmt, 9);
    row.worker_id = sqlite3_column_int64(stmt, 10);
    row.fail_reason = Text(stmt, 11);
    row.created_at = sqlite3_column_double(stmt, 12);
    row.finished_at = sqlite3_column_double(stmt, 13);
    row.lease_token = Text(stmt, 14);
    snapshot.ensembles.push_back(std::move(row));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return Error("read ensembles");
  return snapshot;
}

absl::StatusOr<std::vector<IntermediateRow>> Database::QueryIntermediates(int index,
                                                                          const char* sql,
                                                                          int64_t id) {
  sqlite3_stmt* stmt = Prepared(index, sql);
  if (!stmt) return Error("read intermediate values");
  sqlite3_bind_int64(stmt, 1, id);
  std::vector<IntermediateRow> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    IntermediateRow row;
    row.trial_id = sqlite3_column_int64(stmt, 0);
    row.execution = sqlite3_column_int(stmt, 1);
    row.epoch = sqlite3_column_int(stmt, 2);
    row.value = sqlite3_column_double(stmt, 3);
    row.metrics_json = Text(stmt, 4);
    row.reported_at = sqlite3_column_double(stmt, 5);
    rows.push_back(std::move(row));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return Error("read intermediate values");
  return rows;
}

absl::StatusOr<std::vector<IntermediateRow>> Database::LoadIntermediates(int64_t trial_id) {
  return QueryIntermediates(kSelectIntermediates,
                            "SELECT trial_id, execution, epoch, value, metrics_json, reported_at "
                            "FROM intermediate_values WHERE trial_id = ?1 "
                            "ORDER BY execution, epoch",
                            trial_id);
}

absl::StatusOr<std::vector<IntermediateRow>> Database::LoadStudyIntermediates(int64_t study_id) {
  return QueryIntermediates(
      kSelectStudyIntermediates,
      "SELECT v.trial_id, v.execution, v.epoch, v.value, v.metrics_json, v.reported_at "
      "FROM intermediate_values v JOIN trials t ON t.id = v.trial_id WHERE t.study_id = ?1 "
      "ORDER BY v.trial_id, v.execution, v.epoch",
      study_id);
}

absl::StatusOr<std::vector<CheckpointRow>> Database::LoadCheckpoints() {
  sqlite3_stmt* stmt = Prepared(kSelectCheckpoints,
                                "SELECT id, trial_id, epoch, size_bytes, sha256, path, created_at "
                                "FROM checkpoints");
  if (!stmt) return Error("read checkpoints");
  std::vector<CheckpointRow> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    CheckpointRow row;
    row.id = Text(stmt, 0);
    row.trial_id = sqlite3_column_int64(stmt, 1);
    row.epoch = sqlite3_column_int(stmt, 2);
    row.size_bytes = sqlite3_column_int64(stmt, 3);
    row.sha256 = Text(stmt, 4);
    row.path = Text(stmt, 5);
    row.created_at = sqlite3_column_double(stmt, 6);
    rows.push_back(std::move(row));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return Error("read checkpoints");
  return rows;
}

}  // namespace tuner::storage
