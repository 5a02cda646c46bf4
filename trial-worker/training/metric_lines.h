// Metrics from a user program's output: a JSON object per line (`{"epoch": 3, "val_accuracy":
// 0.91}`), or, for programs that cannot be changed, `name=value` pairs found by regexes
// (Katib's metrics filter). Pure: the command trainer feeds it lines of stdout and of the
// TUNER_REPORT_FD pipe.
#ifndef TUNER_TRIAL_WORKER_TRAINING_METRIC_LINES_H_
#define TUNER_TRIAL_WORKER_TRAINING_METRIC_LINES_H_

#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "trial-worker/training/command_config.h"

namespace tuner::worker {

struct MetricLine {
  std::optional<int> epoch;                // the line's `epoch` (1-based), when it has one
  std::map<std::string, double> metrics;   // every other numeric field
  std::set<std::string> not_numbers;       // fields written as NaN, Infinity or null
};

// Thread-compatible; immutable after construction.
class MetricLineParser {
 public:
  explicit MetricLineParser(const CommandConfig& config);

  // A line of stdout: nullopt when it is no metrics line (log text, a JSON value that is not an
  // object, an object with neither `epoch` nor a number). INVALID_ARGUMENT when it is one but
  // malformed (an `epoch` that is not an integer >= 1).
  absl::StatusOr<std::optional<MetricLine>> ParseOutput(std::string_view line) const;
  // A line of TUNER_REPORT_FD: always JSON, whatever metrics.format says; anything but a JSON
  // object is INVALID_ARGUMENT (the program meant it as a report).
  absl::StatusOr<MetricLine> ParseReport(std::string_view line) const;

 private:
  absl::StatusOr<std::optional<MetricLine>> ParseJson(std::string_view line, bool strict) const;
  std::optional<MetricLine> ParseRegex(std::string_view line) const;

  const CommandConfig::MetricsFormat format_;
  std::vector<std::regex> patterns_;
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRAINING_METRIC_LINES_H_
