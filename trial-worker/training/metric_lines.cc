#include "trial-worker/training/metric_lines.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tuner::worker {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// Python's json.dumps writes NaN, Infinity and -Infinity, which JSON has not: outside strings
// they become null, so a diverged run's line still reads and names its bad metric.
std::string NonFiniteToNull(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < line.size()) {
        out += line[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (std::string_view token : {"-Infinity", "Infinity", "NaN"}) {
      if (line.substr(i, token.size()) == token) {
        out += "null";
        i += token.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

std::string Shorten(std::string_view line) {
  return line.size() <= 200 ? std::string(line) : std::string(line.substr(0, 200)) + "...";
}

}  // namespace

MetricLineParser::MetricLineParser(const CommandConfig& config) : format_(config.metrics_format) {
  for (const std::string& pattern : config.metrics_regex) patterns_.emplace_back(pattern);
}

absl::StatusOr<std::optional<MetricLine>> MetricLineParser::ParseOutput(
    std::string_view line) const {
  if (format_ == CommandConfig::MetricsFormat::kRegex) return ParseRegex(line);
  return ParseJson(line, /*strict=*/false);
}

absl::StatusOr<MetricLine> MetricLineParser::ParseReport(std::string_view line) const {
  absl::StatusOr<std::optional<MetricLine>> parsed = ParseJson(line, /*strict=*/true);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TUNER_REPORT_FD line has neither an epoch nor a number: ", Shorten(line)));
  }
  return **parsed;
}

absl::StatusOr<std::optional<MetricLine>> MetricLineParser::ParseJson(std::string_view line,
                                                                      bool strict) const {
  line = Trim(line);
  const auto refuse = [&](const std::string& why) -> absl::StatusOr<std::optional<MetricLine>> {
    if (!strict) return std::optional<MetricLine>();
    return absl::InvalidArgumentError(
        absl::StrCat("TUNER_REPORT_FD line is not ", why, ": ", Shorten(line)));
  };
  if (line.empty() || line.front() != '{') return refuse("a JSON object");
  nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    doc = nlohmann::json::parse(NonFiniteToNull(line), nullptr, /*allow_exceptions=*/false);
  }
  if (doc.is_discarded() || !doc.is_object()) return refuse("a JSON object");
  MetricLine out;
  bool has_epoch = false;
  for (const auto& [key, value] : doc.items()) {
    if (key == "epoch") {
      has_epoch = true;
      const bool integral = value.is_number_integer() ||
                            (value.is_number_float() && std::floor(value.get<double>()) ==
                                                            value.get<double>());
      if (!integral || value.get<double>() < 1 || value.get<double>() > 1e6) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metrics line: \"epoch\" must be an integer >= 1 (epochs count from 1; got ",
            value.dump(), "): ", Shorten(line)));
      }
      out.epoch = static_cast<int>(value.get<double>());
    } else if (value.is_number()) {
      out.metrics[key] = value.get<double>();
    } else if (value.is_null()) {
      out.not_numbers.insert(key);
    }
  }
  if (!has_epoch && out.metrics.empty() && out.not_numbers.empty()) {
    return refuse("a report (no epoch and no number)");
  }
  return std::optional<MetricLine>(std::move(out));
}

std::optional<MetricLine> MetricLineParser::ParseRegex(std::string_view line) const {
  MetricLine out;
  const std::string text(line);
  for (const std::regex& pattern : patterns_) {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
         it != std::sregex_iterator(); ++it) {
      const std::string name = (*it)[1].str();
      const std::string value = (*it)[2].str();
      if (name.empty() || value.empty()) continue;
      char* end = nullptr;
      const double number = std::strtod(value.c_str(), &end);
      if (end != value.c_str() + value.size()) continue;  // "-" or "." alone
      if (name == "epoch") {
        if (number >= 1 && number <= 1e6 && std::floor(number) == number) {
          out.epoch = static_cast<int>(number);
        }
        continue;
      }
      if (std::isfinite(number)) {
        out.metrics[name] = number;
      } else {
        out.not_numbers.insert(name);
      }
    }
  }
  if (out.metrics.empty() && out.not_numbers.empty()) return std::nullopt;
  return out;
}

}  // namespace tuner::worker
