// The command trainer's keys of a trainer section (`trainer: {kind: command, argv: [...]}`),
// validated, and the `{param}` placeholders of argv / env filled in for one trial. Pure: no
// I/O, no processes; the server checks a section at CreateStudy with the same parser the
// workers run (trial-worker/command_trainer.h runs the program).
#ifndef TUNER_TRIAL_WORKER_TRAINING_COMMAND_CONFIG_H_
#define TUNER_TRIAL_WORKER_TRAINING_COMMAND_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "search/space.h"

namespace tuner::worker {

// Katib's default metrics filter: `name=value` pairs anywhere in a line.
inline constexpr char kDefaultMetricsRegex[] =
    R"(([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?))";

struct CommandConfig {
  std::vector<std::string> argv;           // argv[0]: a path or a name looked up on PATH
  std::map<std::string, std::string> env;  // added to the program's environment
  std::string workdir;                     // empty: the trial-worker's current directory
  double timeout_seconds = 0;              // per execution; 0 = no limit
  double grace_seconds = 10;               // SIGTERM .. SIGKILL
  enum class MetricsFormat { kJson, kRegex };
  MetricsFormat metrics_format = MetricsFormat::kJson;
  // For kRegex: each has two capture groups, the metric's name and its value.
  std::vector<std::string> metrics_regex;
  int64_t log_max_bytes = int64_t{10} << 20;          // per log file of a trial
  int64_t checkpoint_max_bytes = int64_t{1} << 30;    // TUNER_CHECKPOINT_DIR as a tar
};

// INVALID_ARGUMENT naming the key, e.g. "trainer.argv: must be a non-empty list of strings".
// Keys of the section that are not the command trainer's (kind, epochs) are ignored; an
// unknown key is refused (a typo such as `timeout` would otherwise be silently ignored).
absl::StatusOr<CommandConfig> ParseCommandConfig(const nlohmann::json& trainer_config);

// The params that argv and env refer to with `{name}`, as (field, name): ("argv[2]", "units"),
// ("env.LR", "learning_rate"). A name is letters, digits, '_', '.' and '-'; other braces (JSON
// or awk in a shell command) are literal, and so are `{{` and `}}`.
struct Placeholder {
  std::string field;
  std::string name;
};
std::vector<Placeholder> CommandPlaceholders(const CommandConfig& config);

// One trial's argv and env with the placeholders filled in by the params' values (ints as
// integers, floats as the shortest text that reads back the same, choices as their text).
// An argv element naming a param the trial does not have (a conditional param that is off)
// is left out entirely; an env value naming one becomes empty.
struct FilledCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
};
absl::StatusOr<FilledCommand> FillCommand(const CommandConfig& config,
                                          const search::Params& params);

// The params as the JSON object handed to the program (TUNER_PARAMS, TUNER_PARAMS_FILE).
nlohmann::json ParamsToJson(const search::Params& params);

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRAINING_COMMAND_CONFIG_H_
