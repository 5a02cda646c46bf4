#include "tuner-server/db_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tuner::server {
namespace {

// The pid the holder wrote, or "" when the file does not hold one (yet).
std::string HolderPid(int fd) {
  char buffer[32] = {};
  const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "";
  std::string text(buffer, static_cast<size_t>(n));
  text = std::string(absl::StripAsciiWhitespace(text));
  int64_t pid = 0;
  return absl::SimpleAtoi(text, &pid) && pid > 0 ? text : "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<DbLock>> DbLock::Acquire(const std::string& db_path) {
  const std::string path = db_path + ".lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open lock file ", path, " of db ", db_path,
                                               ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const std::string pid = HolderPid(fd);
    close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "db ", db_path, " is in use by another tuner-server (",
          pid.empty() ? "pid unknown" : absl::StrCat("pid ", pid), "; lock file ", path,
          "): one server per db; stop that one or give this one another --db"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot lock ", path, " of db ", db_path, ": ", std::strerror(error)));
  }
  // Ours now: replace a previous holder's pid with ours.
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot write the pid into lock file ", path, ": ", std::strerror(error)));
  }
  return std::unique_ptr<DbLock>(new DbLock(fd, path));
}

DbLock::~DbLock() { close(fd_); }  // closing the last descriptor releases the flock

}  // namespace tuner::server
