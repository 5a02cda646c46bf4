// ParseStudySpec: YAML text -> validated StudySpec. Every error is INVALID_ARGUMENT and starts
// with the field's path ("search_space.dropout.step: must be > 0 (got -0.1) at line 7") so a
// person can fix the spec without reading this file. yaml-cpp throws; nothing here does.
#include "search/study_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/utf8.h"
#include "search/policy.h"
#include "search/yaml_scalar.h"

namespace tuner::search {
namespace {

constexpr int64_t kMaxTrials = 100000;
constexpr int64_t kMaxEpochs = 1000000;

using Fields = std::map<std::string, YAML::Node>;

absl::Status Invalid(const std::string& path, const std::string& message, const YAML::Node& node) {
  return absl::InvalidArgumentError(
      absl::StrCat(path.empty() ? "" : path + ": ", message, Where(node)));
}

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : absl::StrCat(prefix, ".", key);
}

// A value as given, cut short so a pasted blob does not flood the error; cut on a character
// boundary, since the error travels in a gRPC status whose message a client decodes as UTF-8.
std::string Shown(const std::string& text) {
  return text.size() <= 64 ? text : absl::StrCat(TruncateUtf8(text, 61), "...");
}

std::string Quoted(const std::string& text) { return absl::StrCat("\"", Shown(text), "\""); }

// " (got X)" for a scalar, nothing for a list or a mapping. A scalar written in quotes is
// text however it reads: " (got \"4\", a quoted string; write 4 without quotes for a
// number)", not a baffling " (got 4)" for a field that wants an integer.
std::string Got(const YAML::Node& node, bool quoted = false) {
  if (!node.IsScalar()) return "";
  if (!quoted && node.Tag() == "!") {
    const YamlScalar plain = ReadScalar(YAML::Node(node.Scalar()));  // the text, unquoted
    if (plain.kind == YamlScalar::Kind::kInt || plain.kind == YamlScalar::Kind::kFloat ||
        plain.kind == YamlScalar::Kind::kBool) {
      return absl::StrCat(" (got ", Quoted(node.Scalar()), ", a quoted string; write ",
                          Shown(node.Scalar()), " without quotes)");
    }
    return absl::StrCat(" (got ", Quoted(node.Scalar()), ")");
  }
  return absl::StrCat(" (got ", quoted ? Quoted(node.Scalar()) : Shown(node.Scalar()), ")");
}

// The entries of a mapping, refusing duplicates and keys outside `allowed`. `label` says
// which list the allowed keys are ("allowed", "allowed for type float").
absl::StatusOr<Fields> ReadFields(const YAML::Node& node, const std::string& path,
                                  const std::vector<std::string>& allowed,
                                  const std::string& label = "allowed") {
  if (!node.IsMap()) {
    return Invalid(path.empty() ? "spec" : path, "must be a mapping of fields", node);
  }
  Fields fields;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) return Invalid(path, "field names must be strings", entry.first);
    const std::string key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Invalid(path,
                     absl::StrCat("unknown field ", Quoted(key), " (", label, ": ",
                                  absl::StrJoin(allowed, ", "), ")"),
                     entry.first);
    }
    if (!fields.emplace(key, entry.second).second) {
      return Invalid(path, absl::StrCat("duplicate field ", Quoted(key)), entry.first);
    }
  }
  return fields;
}

const YAML::Node* Find(const Fields& fields, const std::string& key) {
  auto it = fields.find(key);
  return it == fields.end() ? nullptr : &it->second;
}

std::string RangeText(int64_t lo, int64_t hi) {
  return hi == INT64_MAX ? absl::StrCat(">= ", lo) : absl::StrCat(">= ", lo, " and <= ", hi);
}

// An integer field in [lo, hi]; `fallback` when absent, required when fallback is nullopt.
absl::StatusOr<int64_t> ReadInt(const Fields& fields, const std::string& prefix,
                                const std::string& key, int64_t lo, int64_t hi,
                                std::optional<int64_t> fallback, const YAML::Node& parent) {
  const std::string path = Join(prefix, key);
  const YAML::Node* node = Find(fields, key);
  if (node == nullptr) {
    if (fallback) return *fallback;
    return Invalid(path, absl::StrCat("is required (an integer ", RangeText(lo, hi), ")"), parent);
  }
  const YamlScalar scalar = node->IsScalar() || node->IsNull() ? ReadScalar(*node) : YamlScalar{};
  if (scalar.kind != YamlScalar::Kind::kInt || scalar.integer < lo || scalar.integer > hi) {
    return Invalid(path, absl::StrCat("must be an integer ", RangeText(lo, hi), Got(*node)), *node);
  }
  return scalar.integer;
}

// A string field that must be one of `allowed`.
absl::StatusOr<std::string> ReadEnum(const Fields& fields, const std::string& prefix,
                                     const std::string& key,
                                     const std::vector<std::string>& allowed,
                                     std::optional<std::string> fallback,
                                     const YAML::Node& parent) {
  const std::string path = Join(prefix, key);
  const std::string choices = absl::StrCat("one of ", absl::StrJoin(allowed, ", "));
  const YAML::Node* node = Find(fields, key);
  if (node == nullptr) {
    if (fallback) return *fallback;
    return Invalid(path, absl::StrCat("is required (", choices, ")"), parent);
  }
  const std::string text = node->IsScalar() ? node->Scalar() : "";
  if (!node->IsScalar() || std::find(allowed.begin(), allowed.end(), text) == allowed.end()) {
    return Invalid(path, absl::StrCat("must be ", choices, Got(*node, true)), *node);
  }
  return text;
}

// 1-64 characters of [A-Za-z0-9._-] plus `extra`.
bool IsSimpleName(const std::string& text, const std::string& extra = "") {
  if (text.empty() || text.size() > 64) return false;
  return std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || extra.find(c) != std::string::npos;
  });
}

absl::StatusOr<std::string> ReadName(const Fields& fields, const std::string& path,
                                     const std::string& key, const std::string& extra,
                                     std::optional<std::string> fallback,
                                     const YAML::Node& parent) {
  const std::string allowed = absl::StrCat("1-64 characters of [A-Za-z0-9._", extra, "-]");
  const YAML::Node* node = Find(fields, key);
  if (node == nullptr) {
    if (fallback) return *fallback;
    return Invalid(Join(path, key), absl::StrCat("is required (", allowed, ")"), parent);
  }
  if (!node->IsScalar() || !IsSimpleName(node->Scalar(), extra)) {
    return Invalid(Join(path, key), absl::StrCat("must be ", allowed, Got(*node, true)), *node);
  }
  return node->Scalar();
}

absl::StatusOr<uint64_t> ReadSeed(const Fields& fields) {
  const YAML::Node* node = Find(fields, "seed");
  if (node == nullptr) return 0;
  const std::string text = node->IsScalar() ? node->Scalar() : "";
  const YamlScalar scalar = node->IsScalar() ? ReadScalar(*node) : YamlScalar{};
  uint64_t seed = 0;
  const bool number =
      scalar.kind == YamlScalar::Kind::kInt || scalar.kind == YamlScalar::Kind::kFloat;
  const char* begin = text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
  const std::from_chars_result parsed = std::from_chars(begin, text.data() + text.size(), seed);
  if (!number || text.empty() || parsed.ec != std::errc() ||
      parsed.ptr != text.data() + text.size()) {
    return Invalid("seed", absl::StrCat("must be an integer in [0, 2^64)", Got(*node)), *node);
  }
  return seed;
}

// A range bound or step: an integer for int params, any finite number for float params.
absl::StatusOr<double> ReadBound(const YAML::Node& node, const std::string& path, bool integer) {
  const YamlScalar scalar = node.IsScalar() ? ReadScalar(node) : YamlScalar{};
  const bool ok = integer ? scalar.kind == YamlScalar::Kind::kInt
                          : (scalar.kind == YamlScalar::Kind::kInt ||
                             scalar.kind == YamlScalar::Kind::kFloat) &&
                                std::isfinite(scalar.number);
  if (!ok) {
    return Invalid(
        path, absl::StrCat(integer ? "must be an integer" : "must be a finite number", Got(node)),
        node);
  }
  return scalar.number;
}

// A choice's values: ints if every value is a plain YAML int, numbers if every value is a
// number, strings otherwise ([1, adam] gives "1", "adam").
absl::StatusOr<std::vector<ParamValue>> ReadChoiceValues(const YAML::Node& node,
                                                         const std::string& path) {
  if (!node.IsSequence() || node.size() == 0) {
    return Invalid(path, "must be a non-empty list", node);
  }
  std::vector<YamlScalar> scalars;
  bool all_ints = true;
  bool all_numbers = true;
  for (size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar()) {
      return Invalid(absl::StrCat(path, "[", i, "]"), "must be a number or a string", node[i]);
    }
    scalars.push_back(ReadScalar(node[i]));
    const YamlScalar::Kind kind = scalars.back().kind;
    all_ints = all_ints && kind == YamlScalar::Kind::kInt;
    all_numbers =
        all_numbers && (kind == YamlScalar::Kind::kInt || kind == YamlScalar::Kind::kFloat);
  }
  std::vector<ParamValue> values;
  for (const YamlScalar& scalar : scalars) {
    if (all_ints) {
      values.emplace_back(scalar.integer);
    } else if (all_numbers) {
      values.emplace_back(scalar.number);
    } else {
      values.emplace_back(scalar.text);
    }
  }
  return values;
}

// `when: {optimizer: [sgd]}` (or `{optimizer: sgd}`): one parent and the values for which the
// param exists. The values stay text here; ResolveConditions matches them to the parent's.
absl::StatusOr<ParamCondition> ReadCondition(const YAML::Node& node, const std::string& path) {
  constexpr char kWhat[] = "must be a mapping of one choice param to its values, such as "
                           "{optimizer: [sgd]}";
  if (!node.IsMap() || node.size() != 1) return Invalid(path, kWhat, node);
  const auto entry = *node.begin();
  if (!entry.first.IsScalar()) return Invalid(path, kWhat, node);
  ParamCondition condition;
  condition.parent = entry.first.Scalar();
  const std::string values_path = Join(path, condition.parent);
  if (entry.second.IsScalar()) {
    condition.values.emplace_back(entry.second.Scalar());
  } else if (entry.second.IsSequence() && entry.second.size() > 0) {
    for (const YAML::Node& value : entry.second) {
      if (!value.IsScalar()) {
        return Invalid(values_path, "must be a value or a list of values of the parent", value);
      }
      condition.values.emplace_back(value.Scalar());
    }
  } else {
    return Invalid(values_path, "must be a value or a non-empty list of values of the parent",
                   entry.second);
  }
  return condition;
}

absl::StatusOr<ParamSpec> ReadParam(const std::string& name, const YAML::Node& node) {
  const std::string path = absl::StrCat("search_space.", name);
  if (!node.IsMap()) {
    return Invalid(path, "must be a mapping such as {type: float, min: 0, max: 1}", node);
  }
  ParamSpec spec;
  spec.name = name;
  const YAML::Node type = node["type"];
  const std::vector<std::string> types = {"int", "float", "choice"};
  if (!type.IsDefined())
    return Invalid(path + ".type", "is required (one of int, float, choice)", node);
  const std::string type_text = type.IsScalar() ? type.Scalar() : "";
  if (std::find(types.begin(), types.end(), type_text) == types.end()) {
    return Invalid(path + ".type",
                   absl::StrCat("must be one of int, float, choice", Got(type, true)), type);
  }
  spec.kind = type_text == "int"     ? ParamKind::kInt
              : type_text == "float" ? ParamKind::kFloat
                                     : ParamKind::kChoice;
  const std::vector<std::string> allowed =
      spec.kind == ParamKind::kChoice
          ? std::vector<std::string>{"type", "values", "when"}
          : std::vector<std::string>{"type", "min", "max", "step", "log", "when"};
  absl::StatusOr<Fields> fields =
      ReadFields(node, path, allowed, absl::StrCat("allowed for type ", type_text));
  if (!fields.ok()) return fields.status();

  if (spec.kind == ParamKind::kChoice) {
    const YAML::Node* values = Find(*fields, "values");
    if (values == nullptr) return Invalid(path + ".values", "must be a non-empty list", node);
    absl::StatusOr<std::vector<ParamValue>> read = ReadChoiceValues(*values, path + ".values");
    if (!read.ok()) return read.status();
    spec.values = *std::move(read);
  } else {
    const bool integer = spec.kind == ParamKind::kInt;
    for (const char* bound : {"min", "max"}) {
      const YAML::Node* value = Find(*fields, bound);
      if (value == nullptr) {
        return Invalid(absl::StrCat(path, ".", bound),
                       integer ? "is required (an integer)" : "is required (a number)", node);
      }
      absl::StatusOr<double> read = ReadBound(*value, absl::StrCat(path, ".", bound), integer);
      if (!read.ok()) return read.status();
      (std::string(bound) == "min" ? spec.min : spec.max) = *read;
    }
    if (const YAML::Node* step = Find(*fields, "step")) {
      absl::StatusOr<double> read = ReadBound(*step, path + ".step", integer);
      if (!read.ok()) return read.status();
      spec.step = *read;
    }
    if (const YAML::Node* log = Find(*fields, "log")) {
      const YamlScalar scalar = log->IsScalar() ? ReadScalar(*log) : YamlScalar{};
      if (scalar.kind != YamlScalar::Kind::kBool) {
        return Invalid(path + ".log", "must be true or false", *log);
      }
      spec.log = scalar.boolean;
    }
  }
  if (const YAML::Node* when = Find(*fields, "when")) {
    absl::StatusOr<ParamCondition> condition = ReadCondition(*when, path + ".when");
    if (!condition.ok()) return condition.status();
    spec.when = *std::move(condition);
  }
  if (absl::Status valid = ValidateParamSpec(spec); !valid.ok()) {
    return Invalid("", std::string(valid.message()), node);
  }
  return spec;
}

absl::StatusOr<SearchSpace> ReadSpace(const YAML::Node* node, const YAML::Node& root) {
  constexpr char kWhat[] = "must be a non-empty mapping of param name to {type: ...}";
  if (node == nullptr) return Invalid("search_space", "is required", root);
  if (!node->IsMap() || node->size() == 0) return Invalid("search_space", kWhat, *node);
  SearchSpace space;
  std::set<std::string> names;  // a set, not a scan of space.params: 20,000 params took seconds
  for (const auto& entry : *node) {  // yaml-cpp keeps the written order
    if (!entry.first.IsScalar()) {
      return Invalid("search_space", "param names must be strings", entry.first);
    }
    const std::string name = entry.first.Scalar();
    if (!names.insert(name).second) {
      return Invalid("search_space", absl::StrCat("duplicate param ", Quoted(name)), entry.first);
    }
    absl::StatusOr<ParamSpec> param = ReadParam(name, entry.second);
    if (!param.ok()) return param.status();
    space.params.push_back(*std::move(param));
  }
  if (absl::Status valid = ResolveConditions(space); !valid.ok()) {
    return Invalid("", std::string(valid.message()), *node);
  }
  return space;
}

absl::Status ReadAlgorithm(const YAML::Node* node, const YAML::Node& root, StudySpec* spec) {
  if (node == nullptr) return Invalid("algorithm", "is required (a mapping with kind)", root);
  if (!node->IsMap()) return Invalid("algorithm", "must be a mapping of fields", *node);
  const YAML::Node kind_node = (*node)["kind"];
  const Fields kind_only = kind_node.IsDefined() ? Fields{{"kind", kind_node}} : Fields{};
  absl::StatusOr<std::string> kind = ReadEnum(
      kind_only, "algorithm", "kind", {"random", "grid", "hyperband", "asha"}, std::nullopt, *node);
  if (!kind.ok()) return kind.status();
  std::vector<std::string> allowed = {"kind"};
  if (*kind == "random") allowed.push_back("max_trials");
  if (*kind == "hyperband") allowed.insert(allowed.end(), {"max_epochs", "eta", "iterations"});
  if (*kind == "asha") {
    allowed.insert(allowed.end(), {"max_trials", "min_epochs", "max_epochs", "eta", "brackets"});
  }
  absl::StatusOr<Fields> fields =
      ReadFields(*node, "algorithm", allowed, absl::StrCat("allowed for kind ", *kind));
  if (!fields.ok()) return fields.status();

  if (*kind == "grid") {
    spec->algorithm = Algorithm::kGrid;
  } else if (*kind == "random") {
    spec->algorithm = Algorithm::kRandom;
    absl::StatusOr<int64_t> max_trials =
        ReadInt(*fields, "algorithm", "max_trials", 1, kMaxTrials, std::nullopt, *node);
    if (!max_trials.ok()) return max_trials.status();
    spec->max_trials = static_cast<int>(*max_trials);
  } else if (*kind == "asha") {
    spec->algorithm = Algorithm::kAsha;
    absl::StatusOr<int64_t> max_trials =
        ReadInt(*fields, "algorithm", "max_trials", 1, kMaxTrials, std::nullopt, *node);
    if (!max_trials.ok()) return max_trials.status();
    absl::StatusOr<int64_t> max_epochs =
        ReadInt(*fields, "algorithm", "max_epochs", 1, kMaxEpochs, std::nullopt, *node);
    if (!max_epochs.ok()) return max_epochs.status();
    absl::StatusOr<int64_t> min_epochs =
        ReadInt(*fields, "algorithm", "min_epochs", 1, *max_epochs, 1, *node);
    if (!min_epochs.ok()) return min_epochs.status();
    absl::StatusOr<int64_t> eta = ReadInt(*fields, "algorithm", "eta", 2, 1000, 3, *node);
    if (!eta.ok()) return eta.status();
    absl::StatusOr<int64_t> brackets = ReadInt(*fields, "algorithm", "brackets", 1, 100, 1, *node);
    if (!brackets.ok()) return brackets.status();
    spec->max_trials = static_cast<int>(*max_trials);
    spec->asha.max_epochs = static_cast<int>(*max_epochs);
    spec->asha.min_epochs = static_cast<int>(*min_epochs);
    spec->asha.eta = static_cast<int>(*eta);
    spec->asha.brackets = static_cast<int>(*brackets);
  } else {
    spec->algorithm = Algorithm::kHyperband;
    absl::StatusOr<int64_t> max_epochs =
        ReadInt(*fields, "algorithm", "max_epochs", 1, kMaxEpochs, std::nullopt, *node);
    if (!max_epochs.ok()) return max_epochs.status();
    absl::StatusOr<int64_t> eta = ReadInt(*fields, "algorithm", "eta", 2, 1000, 3, *node);
    if (!eta.ok()) return eta.status();
    absl::StatusOr<int64_t> iterations =
        ReadInt(*fields, "algorithm", "iterations", 1, 1000, 1, *node);
    if (!iterations.ok()) return iterations.status();
    spec->hyperband.max_epochs = static_cast<int>(*max_epochs);
    spec->hyperband.eta = static_cast<int>(*eta);
    spec->hyperband.iterations = static_cast<int>(*iterations);
  }
  return absl::OkStatus();
}

// A number field in (lo, hi]; `fallback` when absent.
absl::StatusOr<double> ReadFraction(const Fields& fields, const std::string& prefix,
                                    const std::string& key, double fallback) {
  const YAML::Node* node = Find(fields, key);
  if (node == nullptr) return fallback;
  const YamlScalar scalar = node->IsScalar() ? ReadScalar(*node) : YamlScalar{};
  const bool number =
      scalar.kind == YamlScalar::Kind::kInt || scalar.kind == YamlScalar::Kind::kFloat;
  if (!number || !(scalar.number > 0) || !(scalar.number < 1)) {
    return Invalid(Join(prefix, key), absl::StrCat("must be a number > 0 and < 1", Got(*node)),
                   *node);
  }
  return scalar.number;
}

// A true / false field; `fallback` when absent.
absl::StatusOr<bool> ReadBool(const Fields& fields, const std::string& prefix,
                              const std::string& key, bool fallback) {
  const YAML::Node* node = Find(fields, key);
  if (node == nullptr) return fallback;
  const YamlScalar scalar = node->IsScalar() ? ReadScalar(*node) : YamlScalar{};
  if (scalar.kind != YamlScalar::Kind::kBool) {
    return Invalid(Join(prefix, key), absl::StrCat("must be true or false", Got(*node)), *node);
  }
  return scalar.boolean;
}

// A number field in (lo, hi]; `fallback` when absent.
absl::StatusOr<double> ReadPositive(const Fields& fields, const std::string& prefix,
                                    const std::string& key, double hi, double fallback) {
  const YAML::Node* node = Find(fields, key);
  if (node == nullptr) return fallback;
  const YamlScalar scalar = node->IsScalar() ? ReadScalar(*node) : YamlScalar{};
  const bool number =
      scalar.kind == YamlScalar::Kind::kInt || scalar.kind == YamlScalar::Kind::kFloat;
  if (!number || !(scalar.number > 0) || !(scalar.number <= hi)) {
    return Invalid(Join(prefix, key),
                   absl::StrCat("must be a number > 0 and <= ", hi, Got(*node)), *node);
  }
  return scalar.number;
}

// `sampler: tpe` is short for `sampler: {kind: tpe}`. Each kind takes its own fields.
absl::Status ReadSampler(const YAML::Node* node, StudySpec* spec) {
  if (node == nullptr) return absl::OkStatus();
  const std::vector<std::string> tpe_fields = {"gamma", "n_ei_candidates", "multivariate",
                                               "bandwidth", "prior_weight",
                                               "consider_endpoints"};
  const std::vector<std::string> gp_fields = {"n_candidates"};
  const std::vector<std::string> model_fields = {"n_startup_trials", "constant_liar"};
  Fields fields;
  const YAML::Node& where = *node;
  if (node->IsScalar()) {
    fields.emplace("kind", *node);
  } else {
    std::vector<std::string> allowed = {"kind"};
    for (const auto* list : {&model_fields, &tpe_fields, &gp_fields}) {
      allowed.insert(allowed.end(), list->begin(), list->end());
    }
    absl::StatusOr<Fields> read = ReadFields(*node, "sampler", allowed);
    if (!read.ok()) return read.status();
    fields = *std::move(read);
  }
  absl::StatusOr<std::string> kind =
      ReadEnum(fields, "sampler", "kind", {"random", "tpe", "gp"}, std::nullopt, where);
  if (!kind.ok()) return kind.status();
  const auto refuse = [&](const std::vector<std::string>& keys,
                          const std::string& owner) -> absl::Status {
    for (const std::string& key : keys) {
      if (const YAML::Node* extra = Find(fields, key)) {
        return Invalid(Join("sampler", key),
                       absl::StrCat("is a ", owner, " field (sampler.kind is ", *kind, ")"),
                       *extra);
      }
    }
    return absl::OkStatus();
  };
  if (*kind == "random") {
    if (auto s = refuse(model_fields, "tpe and gp"); !s.ok()) return s;
  }
  if (*kind != "tpe") {
    if (auto s = refuse(tpe_fields, "tpe"); !s.ok()) return s;
  }
  if (*kind != "gp") {
    if (auto s = refuse(gp_fields, "gp"); !s.ok()) return s;
  }
  if (spec->algorithm == Algorithm::kGrid) {
    return Invalid("sampler.kind",
                   absl::StrCat(*kind, " cannot be combined with algorithm kind grid, which "
                                       "lists every configuration itself (a sampler is allowed "
                                       "with random, hyperband, asha)"),
                   where);
  }
  SamplerSpec& out = spec->sampler;
  out.kind = *kind == "tpe" ? SamplerKind::kTpe
             : *kind == "gp" ? SamplerKind::kGp
                             : SamplerKind::kRandom;
  absl::StatusOr<int64_t> startup =
      ReadInt(fields, "sampler", "n_startup_trials", 0, kMaxTrials, 10, where);
  if (!startup.ok()) return startup.status();
  absl::StatusOr<bool> liar = ReadBool(fields, "sampler", "constant_liar", true);
  if (!liar.ok()) return liar.status();
  absl::StatusOr<double> gamma = ReadFraction(fields, "sampler", "gamma", 0.2);
  if (!gamma.ok()) return gamma.status();
  absl::StatusOr<int64_t> candidates =
      ReadInt(fields, "sampler", "n_ei_candidates", 1, 10000, 24, where);
  if (!candidates.ok()) return candidates.status();
  absl::StatusOr<bool> multivariate = ReadBool(fields, "sampler", "multivariate", true);
  if (!multivariate.ok()) return multivariate.status();
  absl::StatusOr<double> bandwidth = ReadPositive(fields, "sampler", "bandwidth", 1.0, 0.1);
  if (!bandwidth.ok()) return bandwidth.status();
  absl::StatusOr<double> prior_weight = ReadPositive(fields, "sampler", "prior_weight", 1e6, 1.0);
  if (!prior_weight.ok()) return prior_weight.status();
  absl::StatusOr<bool> endpoints = ReadBool(fields, "sampler", "consider_endpoints", false);
  if (!endpoints.ok()) return endpoints.status();
  absl::StatusOr<int64_t> gp_candidates =
      ReadInt(fields, "sampler", "n_candidates", 10, 100000, 2000, where);
  if (!gp_candidates.ok()) return gp_candidates.status();
  out.n_startup_trials = static_cast<int>(*startup);
  out.constant_liar = *liar;
  out.gamma = *gamma;
  out.n_ei_candidates = static_cast<int>(*candidates);
  out.multivariate = *multivariate;
  out.bandwidth = *bandwidth;
  out.prior_weight = *prior_weight;
  out.consider_endpoints = *endpoints;
  out.n_candidates = static_cast<int>(*gp_candidates);
  return absl::OkStatus();
}

absl::Status ReadPruner(const YAML::Node* node, StudySpec* spec) {
  if (node == nullptr) return absl::OkStatus();
  const std::vector<std::string> median_fields = {"n_startup_trials", "n_warmup_epochs",
                                                  "interval_epochs"};
  std::vector<std::string> allowed = {"kind"};
  allowed.insert(allowed.end(), median_fields.begin(), median_fields.end());
  absl::StatusOr<Fields> fields = ReadFields(*node, "pruner", allowed);
  if (!fields.ok()) return fields.status();
  absl::StatusOr<std::string> kind =
      ReadEnum(*fields, "pruner", "kind", {"median", "none"}, std::nullopt, *node);
  if (!kind.ok()) return kind.status();
  if (*kind == "none") {
    for (const std::string& key : median_fields) {
      if (const YAML::Node* extra = Find(*fields, key)) {
        return Invalid(Join("pruner", key), "is a median field (pruner.kind is none)", *extra);
      }
    }
    return absl::OkStatus();
  }
  if (spec->algorithm != Algorithm::kRandom && spec->algorithm != Algorithm::kGrid) {
    return Invalid("pruner.kind",
                   absl::StrCat("median cannot be combined with algorithm kind ",
                                AlgorithmName(spec->algorithm),
                                ", which stops trials itself (a pruner is allowed with random, "
                                "grid)"),
                   *node);
  }
  absl::StatusOr<int64_t> startup =
      ReadInt(*fields, "pruner", "n_startup_trials", 0, kMaxTrials, 5, *node);
  if (!startup.ok()) return startup.status();
  absl::StatusOr<int64_t> warmup =
      ReadInt(*fields, "pruner", "n_warmup_epochs", 0, kMaxEpochs, 0, *node);
  if (!warmup.ok()) return warmup.status();
  absl::StatusOr<int64_t> interval =
      ReadInt(*fields, "pruner", "interval_epochs", 1, kMaxEpochs, 1, *node);
  if (!interval.ok()) return interval.status();
  spec->pruner.kind = PrunerKind::kMedian;
  spec->pruner.n_startup_trials = static_cast<int>(*startup);
  spec->pruner.n_warmup_epochs = static_cast<int>(*warmup);
  spec->pruner.interval_epochs = static_cast<int>(*interval);
  return absl::OkStatus();
}

absl::Status ReadObjective(const YAML::Node* node, StudySpec* spec) {
  if (node == nullptr) return absl::OkStatus();
  absl::StatusOr<Fields> fields =
      ReadFields(*node, "objective", {"metric", "direction", "reduce"});
  if (!fields.ok()) return fields.status();
  absl::StatusOr<std::string> metric =
      ReadName(*fields, "objective", "metric", "/:", spec->objective_metric, *node);
  if (!metric.ok()) return metric.status();
  absl::StatusOr<std::string> direction =
      ReadEnum(*fields, "objective", "direction", {"maximize", "minimize"}, "maximize", *node);
  if (!direction.ok()) return direction.status();
  absl::StatusOr<std::string> reduce =
      ReadEnum(*fields, "objective", "reduce", {"best", "last"}, "best", *node);
  if (!reduce.ok()) return reduce.status();
  spec->objective_metric = *metric;
  spec->maximize = *direction == "maximize";
  spec->objective_reduce_last = *reduce == "last";
  return absl::OkStatus();
}

absl::Status ReadTrainer(const YAML::Node* node, const YAML::Node& root, StudySpec* spec) {
  if (node == nullptr) return Invalid("trainer", "is required (a mapping with kind)", root);
  if (!node->IsMap()) return Invalid("trainer", "must be a mapping of fields", *node);
  // Other keys belong to the trainer and pass through; only kind and epochs are ours.
  Fields ours;
  for (const char* key : {"kind", "epochs"}) {
    if (YAML::Node value = (*node)[key]; value.IsDefined()) ours.emplace(key, value);
  }
  absl::StatusOr<std::string> kind =
      ReadEnum(ours, "trainer", "kind", {"synthetic", "torch", "command"}, std::nullopt, *node);
  if (!kind.ok()) return kind.status();
  absl::StatusOr<int64_t> epochs = ReadInt(ours, "trainer", "epochs", 1, kMaxEpochs, 1, *node);
  if (!epochs.ok()) return epochs.status();
  absl::StatusOr<nlohmann::json> json = YamlToJson(*node, "trainer");
  if (!json.ok()) return json.status();
  spec->trainer_kind = *kind;
  spec->epochs = static_cast<int>(*epochs);
  spec->trainer_json = json->dump();
  return absl::OkStatus();
}

absl::StatusOr<StudySpec> Read(const YAML::Node& root) {
  if (!root.IsMap()) return Invalid("spec", "must be a YAML mapping of fields", root);
  absl::StatusOr<Fields> fields =
      ReadFields(root, "",
                 {"name", "objective", "algorithm", "sampler", "pruner", "executions_per_trial",
                  "max_parallel", "max_attempts", "seed", "keep_checkpoints", "search_space",
                  "trainer"});
  if (!fields.ok()) return fields.status();
  StudySpec spec;
  absl::StatusOr<std::string> name = ReadName(*fields, "", "name", "", std::nullopt, root);
  if (!name.ok()) return name.status();
  spec.name = *name;
  if (auto s = ReadObjective(Find(*fields, "objective"), &spec); !s.ok()) return s;
  if (auto s = ReadAlgorithm(Find(*fields, "algorithm"), root, &spec); !s.ok()) return s;
  if (auto s = ReadSampler(Find(*fields, "sampler"), &spec); !s.ok()) return s;
  if (auto s = ReadPruner(Find(*fields, "pruner"), &spec); !s.ok()) return s;
  absl::StatusOr<int64_t> executions =
      ReadInt(*fields, "", "executions_per_trial", 1, 100, 1, root);
  if (!executions.ok()) return executions.status();
  absl::StatusOr<int64_t> max_parallel = ReadInt(*fields, "", "max_parallel", 0, 100000, 0, root);
  if (!max_parallel.ok()) return max_parallel.status();
  absl::StatusOr<int64_t> max_attempts = ReadInt(*fields, "", "max_attempts", 1, 100, 3, root);
  if (!max_attempts.ok()) return max_attempts.status();
  absl::StatusOr<uint64_t> seed = ReadSeed(*fields);
  if (!seed.ok()) return seed.status();
  spec.executions_per_trial = static_cast<int>(*executions);
  spec.max_parallel = static_cast<int>(*max_parallel);
  spec.max_attempts = static_cast<int>(*max_attempts);
  spec.seed = *seed;
  if (const YAML::Node* keep = Find(*fields, "keep_checkpoints")) {
    const YamlScalar scalar = keep->IsScalar() ? ReadScalar(*keep) : YamlScalar{};
    if (scalar.kind != YamlScalar::Kind::kBool) {
      return Invalid("keep_checkpoints", absl::StrCat("must be true or false", Got(*keep)), *keep);
    }
    spec.keep_checkpoints = scalar.boolean;
  }
  absl::StatusOr<SearchSpace> space = ReadSpace(Find(*fields, "search_space"), root);
  if (!space.ok()) return space.status();
  spec.space = *std::move(space);
  if (auto s = ReadTrainer(Find(*fields, "trainer"), root, &spec); !s.ok()) return s;
  // What depends on the algorithm and the space together (a grid's size, Hyperband's trial
  // count) is checked where it is used, by building the policy once.
  absl::StatusOr<std::unique_ptr<SearchPolicy>> policy = MakePolicy(spec);
  if (!policy.ok()) return policy.status();
  return spec;
}

}  // namespace

const char* SamplerName(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::kRandom:
      return "random";
    case SamplerKind::kTpe:
      return "tpe";
    case SamplerKind::kGp:
      return "gp";
  }
  return "unknown";
}

const char* AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kRandom:
      return "random";
    case Algorithm::kGrid:
      return "grid";
    case Algorithm::kHyperband:
      return "hyperband";
    case Algorithm::kAsha:
      return "asha";
  }
  return "unknown";
}

absl::StatusOr<StudySpec> ParseStudySpec(const std::string& yaml_text) {
  try {
    return Read(YAML::Load(yaml_text));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null())
      return absl::InvalidArgumentError(absl::StrCat("spec: invalid YAML: ", e.msg));
    return absl::InvalidArgumentError(absl::StrCat("spec: invalid YAML at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    // Nothing above should throw anything else; if it does, it is still the spec's fault.
    return absl::InvalidArgumentError(absl::StrCat("spec: ", e.what()));
  }
}

}  // namespace tuner::search
