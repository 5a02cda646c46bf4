// trainer.kind command: its section is checked at CreateStudy with the worker's own parser,
// every refusal names its field, placeholders are filled per trial, and metrics lines parse
// as JSON (with Python's NaN) or as Katib-style name=value text.
#include "trial-worker/training/command_config.h"

#include <gtest/gtest.h>

#include "search/study_spec.h"
#include "trial-worker/training/metric_lines.h"
#include "trial-worker/training/trainer_spec.h"

namespace tuner::worker {
namespace {

absl::Status Validate(const std::string& trainer, const std::string& objective = "val_accuracy") {
  const std::string yaml = "name: c\nobjective: {metric: " + objective +
                           "}\nalgorithm: {kind: random, max_trials: 2}\nsearch_space:\n"
                           "  lr: {type: float, min: 1.0e-4, max: 1.0e-1, log: true}\n"
                           "  units: {type: choice, values: [64, 128]}\n"
                           "trainer: " + trainer + "\n";
  absl::StatusOr<search::StudySpec> spec = search::ParseStudySpec(yaml);
  if (!spec.ok()) return spec.status();
  return ValidateTrainerSpec(*spec);
}

void ExpectRefused(const std::string& trainer, const std::string& message) {
  const absl::Status s = Validate(trainer);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << trainer << ": " << s;
  EXPECT_NE(s.message().find(message), std::string::npos) << trainer << ": " << s;
}

TEST(CommandConfig, AGoodSectionPassesWithAnyObjectiveMetric) {
  EXPECT_TRUE(Validate("{kind: command, argv: [python3, train.py, '--lr={lr}'], env: {UNITS: "
                       "'{units}', DEBUG: 1}, workdir: /tmp, timeout_seconds: 60, "
                       "grace_seconds: 2, metrics: {format: regex}}",
                       "my_custom_score")
                  .ok());
}

TEST(CommandConfig, EachBadFieldIsRefusedByName) {
  ExpectRefused("{kind: command}", "trainer.argv: is required");
  ExpectRefused("{kind: command, argv: []}", "trainer.argv: is required");
  ExpectRefused("{kind: command, argv: python3}", "trainer.argv: is required");
  ExpectRefused("{kind: command, argv: [python3, {a: 1}]}", "trainer.argv[1]: must be a string");
  ExpectRefused("{kind: command, argv: ['']}", "trainer.argv[0]: must name a program");
  ExpectRefused("{kind: command, argv: [x], timeout: 3}",
                "trainer: unknown field \"timeout\" for kind command");
  ExpectRefused("{kind: command, argv: [x], timeout_seconds: -1}", "trainer.timeout_seconds");
  ExpectRefused("{kind: command, argv: [x], grace_seconds: abc}", "trainer.grace_seconds");
  ExpectRefused("{kind: command, argv: [x], env: [A]}", "trainer.env: must be a mapping");
  ExpectRefused("{kind: command, argv: [x], env: {1A: x}}", "trainer.env.1A: is not a variable");
  ExpectRefused("{kind: command, argv: [x], env: {TUNER_SEED: 3}}", "trainer.env.TUNER_SEED");
  ExpectRefused("{kind: command, argv: [x], env: {A: [1]}}", "trainer.env.A: must be a string");
  ExpectRefused("{kind: command, argv: [x], workdir: ''}", "trainer.workdir");
  ExpectRefused("{kind: command, argv: [x], log_max_bytes: 10}", "trainer.log_max_bytes");
  ExpectRefused("{kind: command, argv: [x], checkpoint_max_bytes: 1.5}",
                "trainer.checkpoint_max_bytes");
  ExpectRefused("{kind: command, argv: [x], metrics: {format: xml}}",
                "trainer.metrics.format: must be json or regex");
  ExpectRefused("{kind: command, argv: [x], metrics: {format: json, regex: 'a'}}",
                "trainer.metrics.regex: is a field of metrics.format regex");
  ExpectRefused("{kind: command, argv: [x], metrics: {format: regex, regex: '(a'}}",
                "trainer.metrics.regex[0]: is not a regular expression");
  ExpectRefused("{kind: command, argv: [x], metrics: {format: regex, regex: ['acc=(\\d+)']}}",
                "trainer.metrics.regex[0]: needs two capture groups");
  ExpectRefused("{kind: command, argv: [x, '--lr={learning_rate}']}",
                "trainer.argv[1]: {learning_rate} is not a search_space param (params: lr, units");
  ExpectRefused("{kind: command, argv: [x], env: {LR: '{rate}'}}",
                "trainer.env.LR: {rate} is not a search_space param");
}

TEST(CommandConfig, PlaceholdersAreFilledAndAnAbsentParamDropsItsArgument) {
  absl::StatusOr<CommandConfig> config = ParseCommandConfig(nlohmann::json::parse(
      R"({"kind": "command", "argv": ["train", "--lr={lr}", "--momentum={momentum}", "{{x}}", 3,
                   "{\"a\": {lr}}", "BEGIN{print {units}}"],
          "env": {"UNITS": "{units}", "M": "{momentum}"}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  const search::Params params = {{"lr", 0.001}, {"units", int64_t{128}}};
  absl::StatusOr<FilledCommand> filled = FillCommand(*config, params);
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(filled->argv, (std::vector<std::string>{"train", "--lr=0.001", "{x}", "3", "{\"a\": 0.001}",
                                      "BEGIN{print 128}"}));
  EXPECT_EQ(filled->env.at("UNITS"), "128");
  EXPECT_EQ(filled->env.at("M"), "");
  EXPECT_EQ(ParamsToJson(params).dump(), R"({"lr":0.001,"units":128})");
}

TEST(MetricLines, JsonLinesAreReportsAndTheRestIsLogText) {
  CommandConfig config;
  MetricLineParser parser(config);
  auto line = parser.ParseOutput(R"(  {"epoch": 3, "val_accuracy": 0.91, "phase": "val"} )");
  ASSERT_TRUE(line.ok() && line->has_value());
  EXPECT_EQ((*line)->epoch, 3);
  EXPECT_EQ((*line)->metrics, (std::map<std::string, double>{{"val_accuracy", 0.91}}));
  for (const char* text : {"Epoch 3/10 loss 0.2", "[1, 2]", "{not json", "{}", "{\"a\": \"b\"}"}) {
    auto ignored = parser.ParseOutput(text);
    ASSERT_TRUE(ignored.ok()) << text;
    EXPECT_FALSE(ignored->has_value()) << text;
  }
  auto nan = parser.ParseOutput(R"({"epoch": 2, "val_accuracy": NaN, "note": "NaN here"})");
  ASSERT_TRUE(nan.ok() && nan->has_value());
  EXPECT_EQ((*nan)->not_numbers, (std::set<std::string>{"val_accuracy"}));
  auto bad = parser.ParseOutput(R"({"epoch": 0, "val_accuracy": 0.5})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("\"epoch\" must be an integer >= 1"), std::string::npos);
  EXPECT_EQ(parser.ParseReport("hello").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MetricLines, RegexFormatFindsKatibStylePairs) {
  absl::StatusOr<CommandConfig> config = ParseCommandConfig(nlohmann::json::parse(
      R"({"argv": ["x"], "metrics": {"format": "regex"}})"));
  ASSERT_TRUE(config.ok()) << config.status();
  MetricLineParser parser(*config);
  auto line = parser.ParseOutput("epoch=4 loss=0.25 accuracy=9.1e-1 text");
  ASSERT_TRUE(line.ok() && line->has_value());
  EXPECT_EQ((*line)->epoch, 4);
  EXPECT_EQ((*line)->metrics,
            (std::map<std::string, double>{{"loss", 0.25}, {"accuracy", 0.91}}));
  EXPECT_FALSE(parser.ParseOutput("no pairs here")->has_value());
}

}  // namespace
}  // namespace tuner::worker
