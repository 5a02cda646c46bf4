// Rows of the tuner's SQLite schema as plain structs. storage/ is the only module with SQL;
// everything above it speaks in these rows. State columns hold the proto enum names
// (PENDING, RUNNING, ...; STUDY_RUNNING, ...) so the db reads the same as the API.
#ifndef TUNER_STORAGE_ROWS_H_
#define TUNER_STORAGE_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tuner::storage {

struct StudyRow {
  int64_t id = 0;
  std::string name;
  std::string spec_yaml;
  std::string state;          // STUDY_RUNNING | STUDY_COMPLETED | STUDY_STOPPED
  double created_at = 0;
  double finished_at = 0;
  // CreateStudy's request_id (a client's retry key); empty when it sent none or before schema 4.
  std::string request_id;
};

struct TrialRow {
  int64_t id = 0;
  int64_t study_id = 0;
  int64_t number = 0;
  std::string params_json;    // {"units": 256, "dropout": 0.3, ...}
  std::string state;          // PENDING | RUNNING | PAUSED | COMPLETED | PRUNED | FAILED | STOPPED
  std::optional<double> value;
  std::string metrics_json = "{}";
  int bracket = -1;
  int rung = 0;
  int budget_epochs = 0;
  int epochs_done = 0;
  int attempt = 0;            // leases handed out so far; a lease is (id, attempt)
  int retries = 0;            // failed or expired leases so far
  int64_t worker_id = 0;
  double lease_deadline = 0;
  std::string lease_token;    // the current lease's secret (RUNNING); empty before schema 3
  std::string checkpoint_id;  // checkpoint to resume from
  std::string fail_reason;
  double created_at = 0;
  double started_at = 0;
  double finished_at = 0;
};

struct IntermediateRow {
  int64_t trial_id = 0;
  int execution = 0;
  int epoch = 0;
  double value = 0;
  std::string metrics_json = "{}";
  double reported_at = 0;
};

struct WorkerRow {
  int64_t id = 0;
  std::string name;
  std::string host;
  std::string devices_json = "[]";
  double registered_at = 0;
  double last_seen_at = 0;
};

struct CheckpointRow {
  std::string id;
  int64_t trial_id = 0;
  int epoch = 0;
  int64_t size_bytes = 0;
  std::string sha256;
  std::string path;           // file name inside the checkpoint directory
  double created_at = 0;
};

// Removes a checkpoint's row (garbage collection, per-trial limit). Its file is removed after
// this commits: a crash in between leaves a file no row names, collected at start-up.
struct CheckpointDeletion {
  std::string id;
};

// Removes a study and every row that names it: its trials, their intermediate values and
// checkpoint rows, its ensembles. Checkpoint files are removed after this commits.
struct StudyDeletion {
  int64_t id = 0;
};

// A top-k ensemble of a study's trials, evaluated on the test set by a worker.
struct EnsembleRow {
  int64_t id = 0;
  int64_t study_id = 0;
  int k = 0;
  std::string member_trial_ids_json = "[]";  // [12, 7, ...], best trial first
  std::string state;          // ENSEMBLE_PENDING | ENSEMBLE_RUNNING | ENSEMBLE_COMPLETED | ENSEMBLE_FAILED
  std::optional<double> test_accuracy;
  std::string member_accuracies_json = "[]";  // test accuracy of each member, same order
  int64_t test_images = 0;
  int attempt = 0;
  int retries = 0;
  int64_t worker_id = 0;
  std::string lease_token;    // the current lease's secret (ENSEMBLE_RUNNING)
  std::string fail_reason;
  double created_at = 0;
  double finished_at = 0;
};

// One write. Rows are written whole (insert or replace by primary key): the caller owns the
// truth in memory and the db mirrors it, which keeps every write idempotent.
using WriteOp =
    std::variant<StudyRow, TrialRow, IntermediateRow, WorkerRow, CheckpointRow, EnsembleRow,
                 CheckpointDeletion, StudyDeletion>;

// Everything a restarting server needs to rebuild its state.
struct Snapshot {
  std::vector<StudyRow> studies;
  std::vector<TrialRow> trials;     // ordered by study_id, number
  std::vector<WorkerRow> workers;
  std::vector<EnsembleRow> ensembles;  // ordered by id
};

}  // namespace tuner::storage

#endif  // TUNER_STORAGE_ROWS_H_
