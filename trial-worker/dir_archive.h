// A directory as one file and back: a POSIX ustar archive of its regular files and
// directories, written and read in-process. The command trainer uploads what a program wrote
// in TUNER_CHECKPOINT_DIR this way and unpacks it into TUNER_RESUME_DIR on a promotion. The
// archive reads with `tar -xf` and Python's tarfile; this reader reads theirs (plus the pax
// `path` and GNU long-name records they use for paths over 100 bytes).
#ifndef TUNER_TRIAL_WORKER_DIR_ARCHIVE_H_
#define TUNER_TRIAL_WORKER_DIR_ARCHIVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tuner::worker {

struct PackedDirectory {
  int64_t bytes = 0;                    // the archive's size
  int files = 0;                        // regular files in it
  std::vector<std::string> skipped;     // entries that are neither (symlinks, sockets): "path (why)"
};

// Packs the tree under `dir` (paths relative to it, sorted) into `archive_path`.
// RESOURCE_EXHAUSTED naming max_bytes when the archive would be larger; INVALID_ARGUMENT for a
// path longer than ustar holds (255 bytes); NOT_FOUND / INTERNAL for I/O errors.
absl::StatusOr<PackedDirectory> PackDirectory(const std::string& dir,
                                              const std::string& archive_path, int64_t max_bytes);

// Unpacks `archive_path` into `dir` (created). DATA_LOSS for a damaged archive (bad checksum,
// truncated); INVALID_ARGUMENT for an entry whose path is absolute or has "..", or one that is
// not a file or directory; RESOURCE_EXHAUSTED when the files add up to more than max_bytes.
absl::Status UnpackArchive(const std::string& archive_path, const std::string& dir,
                           int64_t max_bytes);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_DIR_ARCHIVE_H_
