// The one durable write path: a file is written under a temp name in its target's directory,
// fsynced (result checked), renamed over the target and the directory fsynced, so a reader (or a
// restart after a crash) sees either the old file or the whole new one, and an acknowledged write
// survives a power cut. Every durable file write in the tree goes through here.
#ifndef TUNER_COMMON_ATOMIC_FILE_H_
#define TUNER_COMMON_ATOMIC_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tuner {

// Writes data to path atomically and durably (see above). A failure leaves path as it was and
// no temp file behind. Errors name path and say why (errno text); the code follows errno
// (ENOENT: NOT_FOUND, EACCES: PERMISSION_DENIED, ENOSPC: RESOURCE_EXHAUSTED, ...).
absl::Status WriteFileAtomically(const std::string& path, std::string_view data,
                                 mode_t mode = 0644);

// A streamed atomic write (a checkpoint upload or download): Create opens the temp file,
// Append adds to it, Commit makes it durable and visible under path. Until Commit succeeds
// nothing is visible under path; Abandon (or the destructor of an uncommitted file) removes the
// temp file. Thread-compatible: one owner calls it at a time.
class AtomicFile {
 public:
  // Creates "<dir of path>/.<name>.tmp-XXXXXX" with the given permissions.
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Create(const std::string& path,
                                                            mode_t mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  absl::Status Append(std::string_view data);
  // fsync (checked), close, rename over path, fsync of the directory. Once it was called the
  // file is spent: on failure the temp file is removed (a failed directory fsync leaves the
  // renamed file in place, its durability unknown, and says so).
  absl::Status Commit();
  // Removes the temp file; nothing is written under path. Safe to call more than once.
  void Abandon();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  int64_t size() const { return size_; }

 private:
  AtomicFile(std::string path, std::string temp_path, int fd);
  absl::Status Error(int error_number, const std::string& step);

  // Constant after construction.
  const std::string path_;
  const std::string temp_path_;
  int fd_;  // -1 once closed
  bool done_ = false;  // committed or abandoned
  int64_t size_ = 0;
};

// fsyncs the directory itself, so an entry created or renamed in it survives a crash.
absl::Status SyncDirectory(const std::string& dir);

}  // namespace tuner

#endif  // TUNER_COMMON_ATOMIC_FILE_H_
