#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tuner {
namespace {

// The directory part of path ("." when it has none), and the file name.
std::pair<std::string, std::string> SplitPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  if (slash == 0) return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open directory ", dir));
  int error = 0;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      error = errno;
      break;
    }
  }
  ::close(fd);
  if (error != 0) return absl::ErrnoToStatus(error, absl::StrCat("cannot fsync directory ", dir));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::string& path,
                                                               mode_t mode) {
  const auto [dir, name] = SplitPath(path);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write ", path, ": no file name"));
  }
  std::string temp = absl::StrCat(dir, "/.", name, ".tmp-XXXXXX");
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
  // mkstemp makes the file private; the caller says who may read it.
  if (::fchmod(fd, mode) != 0) {
    const int error = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", path, ": chmod of ", temp));
  }
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, std::move(temp), fd));
}

AtomicFile::AtomicFile(std::string path, std::string temp_path, int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

AtomicFile::~AtomicFile() { Abandon(); }

absl::Status AtomicFile::Error(int error_number, const std::string& step) {
  Abandon();
  return absl::ErrnoToStatus(error_number, absl::StrCat("cannot write ", path_, ": ", step));
}

absl::Status AtomicFile::Append(std::string_view data) {
  if (done_) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path_, ": already committed or abandoned"));
  }
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(errno, absl::StrCat("write to ", temp_path_));
    }
    data.remove_prefix(static_cast<size_t>(n));
    size_ += n;
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (done_) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path_, ": already committed or abandoned"));
  }
  while (::fsync(fd_) != 0) {
    if (errno != EINTR) return Error(errno, absl::StrCat("fsync of ", temp_path_));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return Error(errno, absl::StrCat("close of ", temp_path_));
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return Error(errno, absl::StrCat("rename from ", temp_path_));
  }
  done_ = true;
  absl::Status synced = SyncDirectory(SplitPath(path_).first);
  if (!synced.ok()) {
    return absl::Status(synced.code(), absl::StrCat("wrote ", path_,
                                                    " but it may not survive a crash: ",
                                                    synced.message()));
  }
  return absl::OkStatus();
}

void AtomicFile::Abandon() {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode) {
  absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(path, mode);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Append(data); !s.ok()) return s;
  return (*file)->Commit();
}

}  // namespace tuner
