#include "trial-worker/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tuner::worker {
namespace {

namespace fs = std::filesystem;

// A descriptor moved above the ones the child's dup2s target, close-on-exec.
int High(int fd) {
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return moved;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

void CloseIf(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

}  // namespace

absl::StatusOr<std::string> FindProgram(const std::string& name, const std::string& path,
                                        const std::string& workdir) {
  const fs::path base = workdir.empty() ? fs::current_path() : fs::path(workdir);
  const auto check = [](const fs::path& candidate) -> absl::StatusOr<bool> {
    struct stat st {};
    if (stat(candidate.c_str(), &st) != 0) return false;
    if (!S_ISREG(st.st_mode) || access(candidate.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "trainer.argv[0]: ", candidate.string(),
          S_ISREG(st.st_mode) ? " is not executable (chmod +x, or run it with its interpreter)"
                              : " is not a regular file"));
    }
    return true;
  };
  if (name.find('/') != std::string::npos) {
    const fs::path candidate = fs::path(name).is_absolute() ? fs::path(name) : base / name;
    absl::StatusOr<bool> found = check(candidate);
    if (!found.ok()) return found.status();
    if (!*found) {
      return absl::NotFoundError(
          absl::StrCat("trainer.argv[0]: ", candidate.string(), " does not exist"));
    }
    return candidate.lexically_normal().string();
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    const fs::path d = dir.empty() ? base : fs::path(std::string(dir));
    const fs::path candidate = (d.is_absolute() ? d : base / d) / name;
    absl::StatusOr<bool> found = check(candidate);
    if (!found.ok()) return found.status();
    if (*found) return candidate.lexically_normal().string();
  }
  return absl::NotFoundError(absl::StrCat("trainer.argv[0]: \"", name,
                                          "\" is not on this worker's PATH (", path, ")"));
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::string& program, const std::vector<std::string>& argv,
    const std::vector<std::string>& env, const std::string& workdir) {
  int out[2], err[2], report[2], reply[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Errno("pipe");
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]), close(out[1]);
    return Errno("pipe");
  }
  if (pipe2(report, O_CLOEXEC) != 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    return Errno("pipe");
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, reply) != 0) {
    for (int fd : {out[0], out[1], err[0], err[1], report[0], report[1]}) close(fd);
    return Errno("socketpair");
  }
  for (int* fd : {&out[0], &out[1], &err[0], &err[1], &report[0], &report[1], &reply[0],
                  &reply[1]}) {
    *fd = High(*fd);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_adddup2(&actions, report[1], kReportFd);
  posix_spawn_file_actions_adddup2(&actions, reply[1], kReplyFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, kReplyFd + 1);
  if (!workdir.empty()) posix_spawn_file_actions_addchdir_np(&actions, workdir.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);  // a new group led by the child
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, s);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int fd : {out[1], err[1], report[1], reply[1]}) close(fd);
  if (rc != 0) {
    for (int fd : {out[0], err[0], report[0], reply[0]}) close(fd);
    std::string why = strerror(rc);
    if (rc == ENOEXEC) why += " (a script needs a #! line)";
    if (rc == ENOENT && !workdir.empty()) why += absl::StrCat(" (or trainer.workdir ", workdir, ")");
    return absl::FailedPreconditionError(
        absl::StrCat("trainer.argv[0]: cannot start ", program, ": ", why));
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->stdout_fd_ = out[0];
  child->stderr_fd_ = err[0];
  child->report_fd_ = report[0];
  child->reply_fd_ = reply[0];
  for (int fd : {out[0], err[0], report[0], reply[0]}) SetNonBlocking(fd);
  return child;
}

ChildProcess::~ChildProcess() {
  if (!reaped_) Reap();
  CloseIf(stdout_fd_);
  CloseIf(stderr_fd_);
  CloseIf(report_fd_);
  CloseIf(reply_fd_);
}

void ChildProcess::CloseOutput(int fd) {
  for (int* mine : {&stdout_fd_, &stderr_fd_, &report_fd_}) {
    if (*mine == fd) CloseIf(*mine);
  }
}

bool ChildProcess::Reply(std::string_view line) {
  if (reply_fd_ < 0) return false;
  std::string text(line);
  text += '\n';
  const ssize_t sent = send(reply_fd_, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return sent == static_cast<ssize_t>(text.size());
}

bool ChildProcess::Exited() {
  if (reaped_) return true;
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;
  }
  return info.si_pid == pid_;
}

void ChildProcess::SignalGroup(int signal) {
  if (!reaped_ && pid_ > 0) kill(-pid_, signal);
}

int ChildProcess::Reap() {
  if (reaped_) return wait_status_;
  kill(-pid_, SIGKILL);  // the leader is alive or a zombie: the group id is still ours
  while (waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return wait_status_;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* name = sigabbrev_np(signal);
    std::string text = absl::StrCat("killed by signal ", signal, " (SIG", name ? name : "?", ")");
    if (signal == SIGKILL) text += "; the kernel's out-of-memory killer sends SIGKILL too";
    return text;
  }
  return absl::StrCat("ended with wait status ", status);
}

}  // namespace tuner::worker
