// Text formatting for tunectl's human output: numbers, params, states, times and tables.
// Pure functions with no I/O and no clock (callers pass "now"), so each is unit-tested.
#ifndef TUNER_TUNECTL_FORMAT_H_
#define TUNER_TUNECTL_FORMAT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "proto/tuner.pb.h"

namespace tuner::tunectl {

namespace v1 = ::tuner::v1;

// The shortest text that reads back to the same double, spelled like Python's repr:
// 0.3, 0.0001, 1e-05, 1.0, 1e+16, nan, inf.
std::string FormatFloat(double value);

// An objective value or metric for people: fixed, 4 decimals ("0.9123"); nan / inf as is.
std::string FormatValue(double value);

// A metric for people: like FormatValue, but small magnitudes (a learning rate) keep 4
// significant digits instead of rounding to 0.0000: 0.001234.
std::string FormatMetric(double value);

// A param value: ints as integers, floats by FormatFloat, strings as they are.
std::string FormatParam(const v1::ParamValue& value);
// A param value for a table or a live line: floats with 4 significant digits (0.001235,
// 1.235e-05, 0.3, 2.0), so one long float does not widen every row; ints and strings as
// FormatParam. --json and `best` keep FormatParam's full precision.
std::string FormatParamShort(const v1::ParamValue& value);

// "units=256 dropout=0.3 optimizer=adam", names sorted; `short_floats`: by FormatParamShort.
std::string FormatParams(const google::protobuf::Map<std::string, v1::ParamValue>& params,
                         bool short_floats = false);

// Trial states as the proto spells them (PENDING, ..., STOPPED).
std::string TrialStateName(v1::TrialState state);
// Study states for people: RUNNING, COMPLETED, STOPPED (the proto's name without STUDY_).
std::string StudyStateLabel(v1::StudyState state);

// The names --state accepts, lower case, in proto order.
const std::vector<std::string>& TrialStateChoices();
// Parses one --state value, case-insensitive; nullopt when it is not one of the choices.
std::optional<v1::TrialState> ParseTrialState(const std::string& text);
// "unknown trial state \"x\" (allowed: pending, running, ...)".
std::string UnknownTrialStateMessage(const std::string& text);

// Study.trial_counts[name], 0 when absent.
int64_t TrialCount(const v1::Study& study, v1::TrialState state);
// Trials that will not train any further: COMPLETED + PRUNED + FAILED + STOPPED.
int64_t DoneCount(const v1::Study& study);
// All trials the study has created so far.
int64_t TotalCount(const v1::Study& study);
// "12/40", or "12/?" when the plan is not known (planned_trials == 0).
std::string DoneOfPlanned(const v1::Study& study);

// Local time "2026-11-24 10:12:03"; "-" for 0 (not set).
std::string FormatTimestamp(double unix_seconds);
// "45s", "3m05s", "2h07m", "3d04h"; "-" for a negative or non-finite duration.
std::string FormatDuration(double seconds);
// "[#######-----]" with `width` cells between the brackets.
std::string ProgressBar(int64_t done, int64_t total, int width);

// A table for people: a header row, then rows; columns padded to their widest cell and
// separated by two spaces, numbers right-aligned, no trailing spaces. Thread-compatible.
class Table {
 public:
  enum class Align { kLeft, kRight };

  // One header per column; all columns left-aligned until SetAlign says otherwise.
  explicit Table(std::vector<std::string> headers);

  void SetAlign(size_t column, Align align);
  // A row shorter than the header is padded with empty cells; a longer one is cut.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // Lines end with '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// Cuts `line` to width - 1 display cells of a terminal `width` columns wide, so a redrawn
// frame never wraps (UTF-8 aware; the line must not hold ANSI escapes).
std::string FitWidth(const std::string& line, int width);

// Like FitWidth, but a line too long is cut after its last whole word that fits and ends
// with "…", so no word is cut in the middle (a single word wider than the terminal is cut).
std::string FitWords(const std::string& line, int width);

// Breaks `line` at spaces into lines of at most width - 1 display cells; continuation lines
// start with `indent` spaces. A word too wide for a line is cut (FitWidth). width <= 1: the
// line as is.
std::vector<std::string> WrapWords(const std::string& line, int width, int indent);

// Display cells of a UTF-8 string: one per code point (no East Asian wide handling).
size_t DisplayWidth(const std::string& text);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_FORMAT_H_
