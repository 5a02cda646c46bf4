// ChildProcess: one run of a user program for the command trainer, in its own process group
// so that a stop reaches everything it started (DataLoader workers, a shell's children).
// stdin is /dev/null; stdout and stderr are pipes; fd 3 is the write end of a report pipe
// (TUNER_REPORT_FD) and fd 4 one end of a socket pair for the replies (TUNER_REPLY_FD).
// Every other descriptor of the worker is closed in the child, its signal mask and dispositions
// are reset (the worker blocks SIGTERM in all threads for sigtimedwait).
#ifndef TUNER_TRIAL_WORKER_CHILD_PROCESS_H_
#define TUNER_TRIAL_WORKER_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tuner::worker {

inline constexpr int kReportFd = 3;
inline constexpr int kReplyFd = 4;

// The file argv[0] names: a path with a '/' (relative to workdir), else the first executable
// file of that name in the PATH directories. NOT_FOUND naming the program and PATH;
// FAILED_PRECONDITION when it exists but is not an executable file.
absl::StatusOr<std::string> FindProgram(const std::string& name, const std::string& path,
                                        const std::string& workdir);

// Thread-compatible. The destructor kills what is left of the group and reaps the leader.
class ChildProcess {
 public:
  // env: "NAME=value" entries, the whole environment. workdir: empty keeps the worker's.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::string& program,
                                                             const std::vector<std::string>& argv,
                                                             const std::vector<std::string>& env,
                                                             const std::string& workdir);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The worker's non-blocking read ends; -1 once CloseOutput closed one.
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  int report_fd() const { return report_fd_; }
  void CloseOutput(int fd);

  // Writes one line to TUNER_REPLY_FD without blocking; false when the program closed it or its
  // buffer is full (a program that never reads its replies).
  bool Reply(std::string_view line);

  // True once the leader exited. It is not reaped until Reap, so the group id stays reserved
  // and SignalGroup cannot reach an unrelated process.
  bool Exited();
  // SIGTERM / SIGKILL to every process of the group (harmless once it is empty).
  void SignalGroup(int signal);
  // Kills the rest of the group and reaps the leader; returns its wait status.
  int Reap();

  pid_t pid() const { return pid_; }

 private:
  ChildProcess() = default;

  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int report_fd_ = -1;
  int reply_fd_ = -1;
};

// "exited with status 1", "killed by signal 9 (SIGKILL)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_CHILD_PROCESS_H_
