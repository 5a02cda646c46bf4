// The tunectl command line: flags (CLI11), the channel to the tuner-server (plain, or TLS, with
// an optional bearer token) and the dispatch to Commands. main.cc only wires the process
// (streams, terminal, signals) into RunTunectl, so tests run the whole CLI in-process.
#ifndef TUNER_TUNECTL_CLI_H_
#define TUNER_TUNECTL_CLI_H_

#include <functional>
#include <ostream>

#include "tunectl/commands.h"

namespace tuner::tunectl {

struct CliEnvironment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool out_is_tty = false;            // watch redraws in place only on a terminal
  std::function<int()> terminal_width = [] { return 100; };
  CancelToken* cancel = nullptr;      // fired by Ctrl-C; may be null
};

// Parses argv (argv[0] is the program) and runs the subcommand. Returns the exit code:
// 0 ok, 1 operational error, 2 usage error (bad flags; CLI11's message), 130 interrupted.
int RunTunectl(int argc, const char* const* argv, const CliEnvironment& env);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_CLI_H_
