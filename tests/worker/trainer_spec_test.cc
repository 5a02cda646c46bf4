// A study's trainer section and objective metric are checked at CreateStudy with the workers'
// own parsers: a bad field is refused with its name, and no study is created.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "search/study_spec.h"
#include "tests/testing/test_server.h"
#include "trial-worker/training/trainer_spec.h"

namespace tuner::worker {
namespace {

std::string TorchSpec(const std::string& objective, const std::string& trainer_extra,
                      const std::string& space = "  units: {type: choice, values: [128, 256]}\n") {
  return "name: t\nobjective: " + objective +
         "\nalgorithm: {kind: random, max_trials: 2}\nsearch_space:\n" + space +
         "trainer:\n  kind: torch\n  dataset: {name: cifar10, path: /data/cifar}\n" +
         trainer_extra;
}

absl::Status Validate(const std::string& yaml) {
  absl::StatusOr<search::StudySpec> spec = search::ParseStudySpec(yaml);
  if (!spec.ok()) return spec.status();
  return ValidateTrainerSpec(*spec);
}

void ExpectRefused(const std::string& yaml, const std::string& field,
                   const std::string& also = "") {
  const absl::Status s = Validate(yaml);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << yaml;
  EXPECT_NE(s.message().find(field), std::string::npos) << s;
  if (!also.empty()) EXPECT_NE(s.message().find(also), std::string::npos) << s;
}

TEST(TrainerSpec, AGoodTorchSectionPasses) {
  EXPECT_TRUE(Validate(TorchSpec("{metric: val_accuracy}",
                                 "  early_stopping: {monitor: val_loss, patience: 5}\n"))
                  .ok());
  EXPECT_TRUE(Validate(TorchSpec("{metric: val_loss, direction: minimize, reduce: last}", ""))
                  .ok());
}

TEST(TrainerSpec, AnObjectiveMetricTheTrainerDoesNotReportIsRefusedWithTheAllowedOnes) {
  for (const char* metric : {"val_acc", "accuracy", "loss"}) {
    ExpectRefused(TorchSpec(std::string("{metric: ") + metric + "}", ""), "objective.metric",
                  "val_accuracy, val_loss, train_loss");
  }
  ExpectRefused(
      "name: s\nobjective: {metric: accuracy}\nalgorithm: {kind: random, max_trials: 2}\n"
      "search_space:\n  x: {type: float, min: 0, max: 1}\ntrainer: {kind: synthetic}\n",
      "objective.metric", "val_accuracy");
}

TEST(TrainerSpec, BadTrainerFieldsAreRefusedByName) {
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  batch_size: 0\n"), "trainer.batch_size");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  backbone: {name: resnet51}\n"),
                "trainer.backbone.name", "resnet50");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  early_stopping: {monitor: val_acc}\n"),
                "trainer.early_stopping.monitor", "val_accuracy");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  reduce_lr_on_plateau: {mode: up}\n"),
                "trainer.reduce_lr_on_plateau.mode");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  early_stopping: {min_delta: -1}\n"),
                "trainer.early_stopping.min_delta");
  ExpectRefused(
      "name: s\nalgorithm: {kind: random, max_trials: 2}\n"
      "search_space:\n  x: {type: float, min: 0, max: 1}\ntrainer: {kind: synthetic, noise: -1}\n",
      "trainer.noise");
  ExpectRefused("name: t\nalgorithm: {kind: random, max_trials: 2}\nsearch_space:\n"
                "  units: {type: int, min: 1, max: 8}\ntrainer: {kind: torch}\n",
                "trainer.dataset");
}

TEST(TrainerSpec, ASpaceValueTheTrainerRefusesIsNamedWithItsParam) {
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "",
                          "  optimizer: {type: choice, values: [adam, nadam]}\n"),
                "search_space.optimizer", "nadam");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "",
                          "  dropout: {type: float, min: 0.5, max: 1.0}\n"),
                "search_space.dropout", "params.dropout");
}

TEST(TrainerSpec, CreateStudyRefusesAndCreatesNothing) {
  testing::TestServer server;
  v1::CreateStudyRequest request;
  request.set_spec_yaml(
      "name: s\nalgorithm: {kind: random, max_trials: 2}\n"
      "search_space:\n  x: {type: float, min: 0, max: 1}\ntrainer: {kind: synthetic, noise: -1}\n");
  v1::CreateStudyResponse response;
  grpc::ClientContext context;
  grpc::Status status = server.studies().CreateStudy(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("trainer.noise"), std::string::npos)
      << status.error_message();
  v1::ListStudiesResponse studies;
  grpc::ClientContext list_context;
  ASSERT_TRUE(server.studies().ListStudies(&list_context, {}, &studies).ok());
  EXPECT_EQ(studies.studies_size(), 0);
}

TEST(TrainerSpec, EveryShippedExamplePasses) {
  int checked = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TUNER_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_TRUE(Validate(text.str()).ok()) << entry.path() << ": " << Validate(text.str());
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace tuner::worker
