// tunectl: the command-line client of tuner-server's StudyService (see docs/tunectl.md).
// Only process wiring lives here; the commands are in tunectl/cli.cc and tunectl/commands.cc.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tunectl/cli.h"

namespace {

int TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 100;
}

}  // namespace

int main(int argc, char** argv) {
  // Ctrl-C / SIGTERM: a running watch is cancelled (and returns 130 after leaving the screen
  // tidy); anything else exits at once. Blocked before gRPC starts its threads so only the
  // watcher below receives them.
  static sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  static tuner::tunectl::CancelToken cancel;
  std::thread([] {
    while (true) {
      int signal_number = 0;
      if (sigwait(&signals, &signal_number) != 0) continue;
      if (!cancel.Cancel()) std::_Exit(128 + signal_number);
    }
  }).detach();

  tuner::tunectl::CliEnvironment env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.out_is_tty = isatty(STDOUT_FILENO) == 1;
  env.terminal_width = TerminalWidth;
  env.cancel = &cancel;
  return tuner::tunectl::RunTunectl(argc, argv, env);
}
