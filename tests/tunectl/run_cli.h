// Runs the whole tunectl command line in-process (RunTunectl) and captures what it prints.
#ifndef TUNER_TESTS_TUNECTL_RUN_CLI_H_
#define TUNER_TESTS_TUNECTL_RUN_CLI_H_

#include <sstream>
#include <string>
#include <vector>

#include "tunectl/cli.h"

namespace tuner::tunectl {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

// args without the program name.
inline CliResult RunCli(std::vector<std::string> args) {
  std::ostringstream out;
  std::ostringstream err;
  args.insert(args.begin(), "tunectl");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  CliEnvironment env;
  env.out = &out;
  env.err = &err;
  CliResult result;
  result.code = RunTunectl(static_cast<int>(argv.size()), argv.data(), env);
  result.out = out.str();
  result.err = err.str();
  return result;
}

// How many times needle occurs in text (overlapping ones too): counts elements of a page.
inline size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// RunCli against a server: --server ADDRESS goes first.
inline CliResult RunCliAgainst(const std::string& address, std::vector<std::string> args) {
  args.insert(args.begin(), {"--server", address});
  return RunCli(std::move(args));
}

}  // namespace tuner::tunectl

#endif  // TUNER_TESTS_TUNECTL_RUN_CLI_H_
