// Shell completion and the man page, generated from tunectl's own CLI11 definition (the
// subcommands, options, descriptions and environment variables of cli.cc), so they cannot
// drift from what `tunectl --help` says. Pure: App in, text out.
#ifndef TUNER_TUNECTL_CLI_DOCS_H_
#define TUNER_TUNECTL_CLI_DOCS_H_

#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace tuner::tunectl {

// Values an option takes, by option name ("--state": pending, running, ...), offered by the
// completion (CLI11 keeps no list of a validator's values).
using OptionValues = std::map<std::string, std::vector<std::string>>;

// A bash completion script: `source <(tunectl completion bash)`. Completes subcommands, each
// one's options (and the global ones), the values in `values`, file names for the options
// that take a file and for start-study's SPEC, and study ids and names (from `tunectl studies`)
// for STUDY.
std::string BashCompletion(const CLI::App& app, const OptionValues& values);

// A zsh completion script (bash's, through zsh's bashcompinit).
std::string ZshCompletion(const CLI::App& app, const OptionValues& values);

// The man page, roff (man 7 man): NAME, SYNOPSIS, DESCRIPTION, GLOBAL OPTIONS, COMMANDS (each
// with its arguments and options), ENVIRONMENT, EXIT STATUS, SEE ALSO.
std::string ManPage(const CLI::App& app, const std::string& version);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_CLI_DOCS_H_
