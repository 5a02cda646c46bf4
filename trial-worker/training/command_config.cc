#include "trial-worker/training/command_config.h"

#include <cctype>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tuner::worker {
namespace {

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("trainer.", field, ": ", why));
}

absl::Status ReadSeconds(const nlohmann::json& config, const char* key, double min,
                         double* out) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number() || !(it->get<double>() >= min) || !(it->get<double>() <= 30 * 86400.0)) {
    return Invalid(key, absl::StrCat("must be a number of seconds in [", min,
                                     ", 2592000] (got ", it->dump(), ")"));
  }
  *out = it->get<double>();
  return absl::OkStatus();
}

absl::Status ReadBytes(const nlohmann::json& config, const char* key, int64_t* out) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer() || it->get<int64_t>() < 1024 ||
      it->get<int64_t>() > (int64_t{1} << 40)) {
    return Invalid(key, absl::StrCat("must be an integer number of bytes in [1024, 2^40] (got ",
                                     it->dump(), ")"));
  }
  *out = it->get<int64_t>();
  return absl::OkStatus();
}

// Text for an env value: strings as they are, numbers and booleans as YAML wrote them.
std::optional<std::string> EnvText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return value.dump();
  if (value.is_number()) return search::ParamValueToString(value.get<double>());
  return std::nullopt;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
}

// Splits `text` into literal pieces and placeholder names (odd indexes of the result). Only
// `{name}` with a param-like name is a placeholder, so JSON or awk braces in a shell command
// stay as they are; `{{` and `}}` are literal braces.
std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> pieces(1);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      pieces.back() += c;
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (c == '{' && end < text.size() && IsNameChar(text[end])) ++end;
    if (c != '{' || end == i + 1 || end >= text.size() || text[end] != '}') {
      pieces.back() += c;
      continue;
    }
    pieces.push_back(text.substr(i + 1, end - i - 1));
    pieces.emplace_back();
    i = end;
  }
  return pieces;
}

// The text with its placeholders filled; nullopt when one names a param the trial lacks.
std::optional<std::string> Fill(const std::string& text, const search::Params& params) {
  const std::vector<std::string> pieces = Split(text);
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i % 2 == 0) {
      out += pieces[i];
      continue;
    }
    auto it = params.find(pieces[i]);
    if (it == params.end()) return std::nullopt;
    out += search::ParamValueToString(it->second);
  }
  return out;
}

}  // namespace

absl::StatusOr<CommandConfig> ParseCommandConfig(const nlohmann::json& trainer) {
  if (!trainer.is_object()) return absl::InvalidArgumentError("trainer: must be a mapping");
  static const std::set<std::string> kKeys = {
      "kind",    "epochs",          "argv",           "env",           "workdir",
      "metrics", "timeout_seconds", "grace_seconds", "log_max_bytes", "checkpoint_max_bytes"};
  for (const auto& [key, value] : trainer.items()) {
    if (kKeys.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trainer: unknown field \"", key, "\" for kind command (allowed: ",
          absl::StrJoin(kKeys, ", "), ")"));
    }
  }
  CommandConfig config;
  auto argv = trainer.find("argv");
  if (argv == trainer.end() || !argv->is_array() || argv->empty()) {
    return Invalid("argv", absl::StrCat("is required: a non-empty list of strings, the program "
                                        "and its arguments (got ",
                                        argv == trainer.end() ? "nothing" : argv->dump(), ")"));
  }
  for (size_t i = 0; i < argv->size(); ++i) {
    const nlohmann::json& arg = (*argv)[i];
    const std::optional<std::string> text = EnvText(arg);  // YAML's `[sleep, 1]` has a number
    if (!text) {
      return Invalid(absl::StrCat("argv[", i, "]"),
                     absl::StrCat("must be a string (got ", arg.dump(), ")"));
    }
    if (text->find('\0') != std::string::npos) {
      return Invalid(absl::StrCat("argv[", i, "]"), "must not contain a NUL byte");
    }
    config.argv.push_back(*text);
  }
  if (config.argv[0].empty()) return Invalid("argv[0]", "must name a program (got \"\")");
  if (auto env = trainer.find("env"); env != trainer.end() && !env->is_null()) {
    if (!env->is_object()) {
      return Invalid("env", absl::StrCat("must be a mapping of names to values (got ",
                                         env->dump(), ")"));
    }
    static const std::regex kName("[A-Za-z_][A-Za-z0-9_]*");
    for (const auto& [name, value] : env->items()) {
      if (!std::regex_match(name, kName)) {
        return Invalid(absl::StrCat("env.", name),
                       "is not a variable name (letters, digits and _, not starting with a digit)");
      }
      if (name.rfind("TUNER_", 0) == 0) {
        return Invalid(absl::StrCat("env.", name),
                       "TUNER_* variables are set by the trial-worker (see docs/worker.md)");
      }
      std::optional<std::string> text = EnvText(value);
      if (!text || text->find('\0') != std::string::npos) {
        return Invalid(absl::StrCat("env.", name),
                       absl::StrCat("must be a string, number or boolean (got ", value.dump(), ")"));
      }
      config.env[name] = *text;
    }
  }
  if (auto workdir = trainer.find("workdir"); workdir != trainer.end() && !workdir->is_null()) {
    if (!workdir->is_string() || workdir->get<std::string>().empty()) {
      return Invalid("workdir", absl::StrCat("must be a non-empty path (got ", workdir->dump(), ")"));
    }
    config.workdir = workdir->get<std::string>();
  }
  if (auto s = ReadSeconds(trainer, "timeout_seconds", 0, &config.timeout_seconds); !s.ok()) {
    return s;
  }
  if (auto s = ReadSeconds(trainer, "grace_seconds", 0, &config.grace_seconds); !s.ok()) return s;
  if (auto s = ReadBytes(trainer, "log_max_bytes", &config.log_max_bytes); !s.ok()) return s;
  if (auto s = ReadBytes(trainer, "checkpoint_max_bytes", &config.checkpoint_max_bytes);
      !s.ok()) {
    return s;
  }
  if (auto metrics = trainer.find("metrics"); metrics != trainer.end() && !metrics->is_null()) {
    if (!metrics->is_object()) {
      return Invalid("metrics", absl::StrCat("must be a mapping with format (json or regex) and "
                                             "regex (got ", metrics->dump(), ")"));
    }
    for (const auto& [key, value] : metrics->items()) {
      if (key != "format" && key != "regex") {
        return Invalid("metrics", absl::StrCat("unknown field \"", key,
                                               "\" (allowed: format, regex)"));
      }
    }
    const std::string format = metrics->value("format", std::string("json"));
    if (!metrics->value("format", nlohmann::json("json")).is_string() ||
        (format != "json" && format != "regex")) {
      return Invalid("metrics.format", absl::StrCat("must be json or regex (got ",
                                                    (*metrics)["format"].dump(), ")"));
    }
    auto regex = metrics->find("regex");
    if (format == "json" && regex != metrics->end()) {
      return Invalid("metrics.regex", "is a field of metrics.format regex (format is json)");
    }
    if (format == "regex") {
      config.metrics_format = CommandConfig::MetricsFormat::kRegex;
      nlohmann::json patterns = nlohmann::json::array({kDefaultMetricsRegex});
      if (regex != metrics->end()) patterns = regex->is_string() ? nlohmann::json::array({*regex}) : *regex;
      if (!patterns.is_array() || patterns.empty()) {
        return Invalid("metrics.regex", "must be a pattern or a non-empty list of patterns");
      }
      for (size_t i = 0; i < patterns.size(); ++i) {
        const std::string field = absl::StrCat("metrics.regex[", i, "]");
        if (!patterns[i].is_string()) return Invalid(field, "must be a string");
        try {
          const std::regex compiled(patterns[i].get<std::string>());
          if (compiled.mark_count() < 2) {
            return Invalid(field, absl::StrCat("needs two capture groups, the metric's name and ",
                                               "its value (has ", compiled.mark_count(), ")"));
          }
        } catch (const std::regex_error& e) {
          return Invalid(field, absl::StrCat("is not a regular expression (ECMAScript): ",
                                             e.what()));
        }
        config.metrics_regex.push_back(patterns[i].get<std::string>());
      }
    }
  }
  return config;
}

std::vector<Placeholder> CommandPlaceholders(const CommandConfig& config) {
  std::vector<Placeholder> names;
  const auto collect = [&](const std::string& text, const std::string& field) {
    const std::vector<std::string> pieces = Split(text);
    for (size_t i = 1; i < pieces.size(); i += 2) names.push_back({field, pieces[i]});
  };
  for (size_t i = 0; i < config.argv.size(); ++i) {
    collect(config.argv[i], absl::StrCat("argv[", i, "]"));
  }
  for (const auto& [name, value] : config.env) collect(value, absl::StrCat("env.", name));
  return names;
}

absl::StatusOr<FilledCommand> FillCommand(const CommandConfig& config,
                                          const search::Params& params) {
  FilledCommand filled;
  for (size_t i = 0; i < config.argv.size(); ++i) {
    std::optional<std::string> arg = Fill(config.argv[i], params);
    if (!arg) {
      if (i == 0) return Invalid("argv[0]", "names a param this trial does not have");
      continue;
    }
    filled.argv.push_back(std::move(*arg));
  }
  for (const auto& [name, value] : config.env) {
    filled.env[name] = Fill(value, params).value_or("");
  }
  return filled;
}

nlohmann::json ParamsToJson(const search::Params& params) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : params) {
    if (const auto* i = std::get_if<int64_t>(&value)) out[name] = *i;
    if (const auto* d = std::get_if<double>(&value)) out[name] = *d;
    if (const auto* s = std::get_if<std::string>(&value)) out[name] = *s;
  }
  return out;
}

}  // namespace tuner::worker
