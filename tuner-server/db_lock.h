// DbLock: one tuner-server per db file. Two servers on one db would each acknowledge writes
// that the other's later commits silently replace (issue 13, row 2), so a server takes an
// exclusive flock(2) on `<db>.lock` before it opens the db and holds it for its life; the file
// holds the owner's pid so a second server can say who has it. flock, not fcntl: SQLite's own
// fcntl locks on the db file are released by any close of it, and flock locks conflict
// between two opens in one process too. The kernel drops the lock when the process dies
// (kill -9 included); the file itself stays and is harmless.
#ifndef TUNER_TUNER_SERVER_DB_LOCK_H_
#define TUNER_TUNER_SERVER_DB_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tuner::server {

// Owns the lock file's descriptor; the lock is released when the DbLock is destroyed.
// Not copyable; thread-compatible.
class DbLock {
 public:
  // FAILED_PRECONDITION naming the db, the lock file and the holder's pid when another
  // process (or another DbLock in this one) holds it; UNAVAILABLE when the lock file cannot be
  // opened.
  static absl::StatusOr<std::unique_ptr<DbLock>> Acquire(const std::string& db_path);
  ~DbLock();
  DbLock(const DbLock&) = delete;
  DbLock& operator=(const DbLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  DbLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  const int fd_;
  const std::string path_;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_DB_LOCK_H_
