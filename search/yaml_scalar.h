// YAML reading helpers for the spec parser (internal to search/: the only code that sees
// yaml-cpp). Plain scalars are typed by the YAML 1.2 core schema, not by yaml-cpp's looser
// rules ("yes" stays a string, "010" is 10); quoted scalars are always strings.
#ifndef TUNER_SEARCH_YAML_SCALAR_H_
#define TUNER_SEARCH_YAML_SCALAR_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace tuner::search {

// The typed value of one scalar node.
struct YamlScalar {
  enum class Kind { kNull, kBool, kInt, kFloat, kString };
  Kind kind = Kind::kNull;
  bool boolean = false;  // kBool
  int64_t integer = 0;   // kInt
  double number = 0;     // kInt and kFloat (may be inf or nan for .inf / .nan)
  std::string text;      // the scalar as written, without quotes
};

// node must be a scalar or null (a missing value).
YamlScalar ReadScalar(const YAML::Node& node);

// " at line N" for error messages; empty when the node has no position.
std::string Where(const YAML::Node& node);

// Converts a YAML tree to JSON: null, bools, int64, finite floats and strings by ReadScalar's
// kind (.inf/.nan stay strings); sequences and maps recursively, keys as strings. Refuses trees
// deeper than 64 levels or over 100000 nodes (aliases can make a small text expand hugely).
absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& path);

}  // namespace tuner::search

#endif  // TUNER_SEARCH_YAML_SCALAR_H_
