#include "search/yaml_scalar.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace tuner::search {
namespace {

constexpr int kMaxDepth = 64;
constexpr int64_t kMaxNodes = 100000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Consumes [0-9]+ from text[*i]; false when there was none.
bool Digits(const std::string& text, size_t* i) {
  const size_t start = *i;
  while (*i < text.size() && IsDigit(text[*i])) ++*i;
  return *i > start;
}

// YAML 1.2 core int: [-+]?[0-9]+
bool LooksLikeInt(const std::string& text) {
  size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  return Digits(text, &i) && i == text.size();
}

// YAML 1.2 core float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeFloat(const std::string& text) {
  size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!Digits(text, &i)) return false;
  } else {
    if (!Digits(text, &i)) return false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      Digits(text, &i);
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    if (!Digits(text, &i)) return false;
  }
  return i == text.size();
}

// from_chars refuses a leading '+'.
const char* NumberStart(const std::string& text) {
  return text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
}

bool OneOf(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* word : words) {
    if (text == word) return true;
  }
  return false;
}

absl::StatusOr<nlohmann::json> Convert(const YAML::Node& node, const std::string& path, int depth,
                                       int64_t* nodes) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": nested deeper than ", kMaxDepth, " levels", Where(node)));
  }
  if (++*nodes > kMaxNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": more than ", kMaxNodes, " values", Where(node)));
  }
  if (node.IsSequence()) {
    nlohmann::json array = nlohmann::json::array();
    for (size_t i = 0; i < node.size(); ++i) {
      absl::StatusOr<nlohmann::json> item =
          Convert(node[i], absl::StrCat(path, "[", i, "]"), depth + 1, nodes);
      if (!item.ok()) return item.status();
      array.push_back(*std::move(item));
    }
    return array;
  }
  if (node.IsMap()) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": keys must be plain strings", Where(entry.first)));
      }
      const std::string key = entry.first.Scalar();
      if (object.contains(key)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": duplicate field \"", key, "\"", Where(entry.first)));
      }
      absl::StatusOr<nlohmann::json> value =
          Convert(entry.second, absl::StrCat(path, ".", key), depth + 1, nodes);
      if (!value.ok()) return value.status();
      object[key] = *std::move(value);
    }
    return object;
  }
  const YamlScalar scalar = ReadScalar(node);
  switch (scalar.kind) {
    case YamlScalar::Kind::kNull:
      return nlohmann::json(nullptr);
    case YamlScalar::Kind::kBool:
      return nlohmann::json(scalar.boolean);
    case YamlScalar::Kind::kInt:
      return nlohmann::json(scalar.integer);
    case YamlScalar::Kind::kFloat:
      if (std::isfinite(scalar.number)) return nlohmann::json(scalar.number);
      return nlohmann::json(scalar.text);  // JSON has no inf / nan
    case YamlScalar::Kind::kString:
      break;
  }
  return nlohmann::json(scalar.text);
}

}  // namespace

YamlScalar ReadScalar(const YAML::Node& node) {
  YamlScalar scalar;
  if (!node.IsDefined() || node.IsNull()) return scalar;
  scalar.text = node.Scalar();
  // yaml-cpp tags quoted scalars "!" and plain ones "?"; an explicit !!str also means text.
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") {
    scalar.kind = YamlScalar::Kind::kString;
    return scalar;
  }
  const std::string& text = scalar.text;
  if (OneOf(text, {"", "~", "null", "Null", "NULL"})) return scalar;
  if (OneOf(text, {"true", "True", "TRUE", "false", "False", "FALSE"})) {
    scalar.kind = YamlScalar::Kind::kBool;
    scalar.boolean = text[0] == 't' || text[0] == 'T';
    return scalar;
  }
  if (LooksLikeInt(text)) {
    const std::from_chars_result parsed =
        std::from_chars(NumberStart(text), text.data() + text.size(), scalar.integer);
    if (parsed.ec == std::errc()) {
      scalar.kind = YamlScalar::Kind::kInt;
      scalar.number = static_cast<double>(scalar.integer);
      return scalar;
    }
    // Out of int64 range: falls through to a float, as JSON readers would do.
  }
  if (LooksLikeFloat(text)) {
    const std::from_chars_result parsed =
        std::from_chars(NumberStart(text), text.data() + text.size(), scalar.number);
    if (parsed.ec == std::errc::result_out_of_range) {
      scalar.number = std::numeric_limits<double>::infinity() * (text[0] == '-' ? -1 : 1);
    }
    scalar.kind = YamlScalar::Kind::kFloat;
    return scalar;
  }
  if (OneOf(text, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) {
    scalar.kind = YamlScalar::Kind::kFloat;
    scalar.number = std::numeric_limits<double>::infinity();
    return scalar;
  }
  if (OneOf(text, {"-.inf", "-.Inf", "-.INF"})) {
    scalar.kind = YamlScalar::Kind::kFloat;
    scalar.number = -std::numeric_limits<double>::infinity();
    return scalar;
  }
  if (OneOf(text, {".nan", ".NaN", ".NAN"})) {
    scalar.kind = YamlScalar::Kind::kFloat;
    scalar.number = std::numeric_limits<double>::quiet_NaN();
    return scalar;
  }
  scalar.kind = YamlScalar::Kind::kString;
  return scalar;
}

std::string Where(const YAML::Node& node) {
  if (!node.IsDefined()) return "";
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return "";
  return absl::StrCat(" at line ", mark.line + 1);
}

absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& path) {
  int64_t nodes = 0;
  return Convert(node, path, 0, &nodes);
}

}  // namespace tuner::search
