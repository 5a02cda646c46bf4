#include "tunectl/format.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace tuner::tunectl {
namespace {

struct StateName {
  v1::TrialState state;
  const char* name;
};
constexpr StateName kTrialStates[] = {
    {v1::PENDING, "PENDING"},     {v1::RUNNING, "RUNNING"}, {v1::PAUSED, "PAUSED"},
    {v1::COMPLETED, "COMPLETED"}, {v1::PRUNED, "PRUNED"},   {v1::FAILED, "FAILED"},
    {v1::STOPPED, "STOPPED"},
};

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string FormatFloat(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Shortest round-trip digits, then laid out by Python's repr rule: positional notation for
  // decimal exponents in [-4, 16), scientific with a 2-digit exponent otherwise.
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string text(buffer, result.ptr);
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const size_t e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (text[i] != '.') digits += text[i];
  }
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    const int point = exponent + 1;  // digits before the decimal point
    const int size = static_cast<int>(digits.size());
    if (point <= 0) {
      out = "0." + std::string(-point, '0') + digits;
    } else if (point >= size) {
      out = digits + std::string(point - size, '0') + ".0";
    } else {
      out = digits.substr(0, point) + "." + digits.substr(point);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_text[16];
    std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    out += exp_text;
  }
  return negative ? "-" + out : out;
}

std::string FormatValue(double value) {
  if (!std::isfinite(value)) return FormatFloat(value);
  char text[64];
  std::snprintf(text, sizeof(text), "%.4f", value);
  return text;
}

std::string FormatMetric(double value) {
  if (!std::isfinite(value) || value == 0 || std::fabs(value) >= 0.01) return FormatValue(value);
  char text[64];
  std::snprintf(text, sizeof(text), "%.4g", value);
  return text;
}

std::string FormatParam(const v1::ParamValue& value) {
  switch (value.kind_case()) {
    case v1::ParamValue::kIntValue:
      return std::to_string(value.int_value());
    case v1::ParamValue::kFloatValue:
      return FormatFloat(value.float_value());
    case v1::ParamValue::kStringValue:
      return value.string_value();
    case v1::ParamValue::KIND_NOT_SET:
      break;
  }
  return "-";
}

std::string FormatParamShort(const v1::ParamValue& value) {
  if (value.kind_case() != v1::ParamValue::kFloatValue || !std::isfinite(value.float_value())) {
    return FormatParam(value);
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%.4g", value.float_value());
  std::string out = text;
  // Spelled like FormatFloat: a float keeps a point ("2.0"), exponents have two digits.
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

std::string FormatParams(const google::protobuf::Map<std::string, v1::ParamValue>& params,
                         bool short_floats) {
  const std::map<std::string, v1::ParamValue> sorted(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : sorted) {
    if (!out.empty()) out += ' ';
    out += name + "=" + (short_floats ? FormatParamShort(value) : FormatParam(value));
  }
  return out;
}

std::string TrialStateName(v1::TrialState state) {
  for (const StateName& s : kTrialStates) {
    if (s.state == state) return s.name;
  }
  return "UNSPECIFIED";
}

std::string StudyStateLabel(v1::StudyState state) {
  switch (state) {
    case v1::STUDY_RUNNING:
      return "RUNNING";
    case v1::STUDY_COMPLETED:
      return "COMPLETED";
    case v1::STUDY_STOPPED:
      return "STOPPED";
    default:
      return "UNSPECIFIED";
  }
}

const std::vector<std::string>& TrialStateChoices() {
  static const std::vector<std::string> choices = [] {
    std::vector<std::string> names;
    for (const StateName& s : kTrialStates) names.push_back(Lower(s.name));
    return names;
  }();
  return choices;
}

std::optional<v1::TrialState> ParseTrialState(const std::string& text) {
  const std::string lower = Lower(text);
  for (const StateName& s : kTrialStates) {
    if (lower == Lower(s.name)) return s.state;
  }
  return std::nullopt;
}

std::string UnknownTrialStateMessage(const std::string& text) {
  std::string allowed;
  for (const std::string& name : TrialStateChoices()) {
    allowed += allowed.empty() ? name : ", " + name;
  }
  return "unknown trial state \"" + text + "\" (allowed: " + allowed + ")";
}

int64_t TrialCount(const v1::Study& study, v1::TrialState state) {
  auto it = study.trial_counts().find(TrialStateName(state));
  return it == study.trial_counts().end() ? 0 : it->second;
}

int64_t DoneCount(const v1::Study& study) {
  return TrialCount(study, v1::COMPLETED) + TrialCount(study, v1::PRUNED) +
         TrialCount(study, v1::FAILED) + TrialCount(study, v1::STOPPED);
}

int64_t TotalCount(const v1::Study& study) {
  int64_t total = 0;
  for (const StateName& s : kTrialStates) total += TrialCount(study, s.state);
  return total;
}

std::string DoneOfPlanned(const v1::Study& study) {
  const std::string planned =
      study.planned_trials() > 0 ? std::to_string(study.planned_trials()) : "?";
  return std::to_string(DoneCount(study)) + "/" + planned;
}

std::string FormatTimestamp(double unix_seconds) {
  if (!(unix_seconds > 0) || !std::isfinite(unix_seconds)) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm local{};
  localtime_r(&t, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const int64_t s = std::llround(seconds);
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof(text), "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(text, sizeof(text), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(text, sizeof(text), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(text, sizeof(text), "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return text;
}

std::string ProgressBar(int64_t done, int64_t total, int width) {
  width = std::max(width, 1);
  int filled = 0;
  if (total > 0) {
    const double fraction = std::clamp(static_cast<double>(done) / total, 0.0, 1.0);
    filled = static_cast<int>(fraction * width);  // full only when everything is done
  }
  return "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
}

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), align_(headers_.size(), Align::kLeft) {}

void Table::SetAlign(size_t column, Align align) {
  if (column < align_.size()) align_[column] = align;
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = DisplayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  auto render_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(widths[c] - DisplayWidth(cells[c]), ' ');
      if (c > 0) line += "  ";
      line += align_[c] == Align::kRight ? pad + cells[c] : cells[c] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    return line + "\n";
  };
  std::string out = render_row(headers_);
  for (const auto& row : rows_) out += render_row(row);
  return out;
}

std::string FitWidth(const std::string& line, int width) {
  if (width <= 1) return line;
  const size_t limit = static_cast<size_t>(width - 1);
  size_t cells = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c & 0xC0) != 0x80) {
      if (cells == limit) return line.substr(0, i);
      ++cells;
    }
  }
  return line;
}

std::string FitWords(const std::string& line, int width) {
  if (width <= 1 || DisplayWidth(line) <= static_cast<size_t>(width - 1)) return line;
  // Room for the words and the "…" (one cell).
  const std::string room = FitWidth(line, width - 1);
  size_t cut = room.size();
  if (cut < line.size() && line[cut] != ' ') {
    const size_t space = room.find_last_of(' ');
    if (space != std::string::npos && space > 0) cut = space;
  }
  std::string out = room.substr(0, cut);
  out.erase(out.find_last_not_of(' ') + 1);
  return out + "\u2026";
}

std::vector<std::string> WrapWords(const std::string& line, int width, int indent) {
  if (width <= 1 || DisplayWidth(line) <= static_cast<size_t>(width - 1)) return {line};
  const size_t limit = static_cast<size_t>(width - 1);
  indent = std::max(0, std::min(indent, width / 2));
  std::vector<std::string> lines;
  std::string current;
  size_t pos = 0;
  while (pos < line.size()) {
    // The next word and the spaces before it.
    size_t start = line.find_first_not_of(' ', pos);
    if (start == std::string::npos) break;
    size_t end = line.find(' ', start);
    if (end == std::string::npos) end = line.size();
    const std::string spaces = line.substr(pos, start - pos);
    const std::string word = line.substr(start, end - start);
    if (current.empty()) {
      // The first line keeps the line's own leading spaces; the others get the indent.
      current = (lines.empty() ? spaces : std::string(indent, ' ')) + word;
    } else if (DisplayWidth(current + spaces + word) <= limit) {
      current += spaces + word;
    } else {
      lines.push_back(current);
      current = std::string(indent, ' ') + word;
    }
    pos = end;
  }
  if (!current.empty()) lines.push_back(current);
  for (std::string& l : lines) l = FitWidth(l, width);
  return lines;
}

}  // namespace tuner::tunectl
