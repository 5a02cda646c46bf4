// A study's trainer section and objective metric are checked at CreateStudy with the workers'
// own parsers: a bad field is refused with its name, and no study is created.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "search/study_spec.h"
#include "tests/testing/test_server.h"
#include "trial-worker/training/torch_config.h"
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

// trainer.backbone.name: {param: backbone}: one study compares backbones, each value checked
// against the trainer at CreateStudy.
std::string BackboneChoiceSpec(const std::string& values, const std::string& backbone_extra = "",
                               const std::string& trainer_extra = "") {
  return TorchSpec("{metric: val_accuracy}",
                   "  backbone: {name: {param: backbone}" + backbone_extra + "}\n" + trainer_extra,
                   "  backbone: {type: choice, values: [" + values + "]}\n");
}

TEST(TrainerSpec, ABackboneChoiceParamPassesWithWeightsPerBackbone) {
  EXPECT_TRUE(Validate(BackboneChoiceSpec("resnet18, mobilenet_v2, efficientnet_b0",
                                          ", weights: {resnet18: /w/resnet18.pth}"))
                  .ok())
      << Validate(BackboneChoiceSpec("resnet18, mobilenet_v2, efficientnet_b0",
                                     ", weights: {resnet18: /w/resnet18.pth}"));
  EXPECT_TRUE(Validate(BackboneChoiceSpec("inception_v3, googlenet", "", "  input_size: 75\n")).ok());
}

TEST(TrainerSpec, ABadBackboneChoiceIsRefusedNamingTheFieldOrTheValue) {
  ExpectRefused(BackboneChoiceSpec("resnet18, resnet51"), "search_space.backbone",
                "unknown backbone \"resnet51\" (the value of param backbone)");
  // inception_v3 needs 75 px; the default input_size is 32.
  ExpectRefused(BackboneChoiceSpec("resnet18, inception_v3"), "search_space.backbone",
                "trainer.input_size: inception_v3 needs >= 75 pixels (got 32)");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  backbone: {name: {param: arch}}\n"),
                "trainer.backbone.name", "names param \"arch\", which search_space does not");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  backbone: {name: {param: units}}\n"),
                "trainer.backbone.name", "param \"units\" must be a choice of backbone names");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  backbone: {name: {parm: units}}\n"),
                "trainer.backbone.name.parm", "unknown key");
  ExpectRefused(BackboneChoiceSpec("resnet18, googlenet", ", weights: {resnet51: /w.pth}"),
                "trainer.backbone.weights.resnet51", "unknown backbone");
  ExpectRefused(BackboneChoiceSpec("resnet18, lenet5", ", weights: {lenet5: /w.pth}"),
                "trainer.backbone.weights.lenet5", "trains from scratch");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  backbone: {name: lenet5, weights: /w.pth}\n"),
                "trainer.backbone.weights", "lenet5 trains from scratch");
}

TEST(TrainerSpec, BadPreprocessingIsRefusedByName) {
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  preprocessing: {mean: [0.5, 0.5]}\n"),
                "trainer.preprocessing.mean", "three numbers");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  preprocessing: {std: [0.5, 0, 0.5]}\n"),
                "trainer.preprocessing.std", "each > 0");
  ExpectRefused(TorchSpec("{metric: val_accuracy}",
                          "  preprocessing: {interpolation: nearest}\n"),
                "trainer.preprocessing.interpolation", "bilinear, bicubic");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  preprocessing: {center_crop: 1.5}\n"),
                "trainer.preprocessing.center_crop");
  ExpectRefused(TorchSpec("{metric: val_accuracy}", "  preprocessing: {resize: 256}\n"),
                "trainer.preprocessing.resize", "unknown key");
}

TEST(TorchConfig, TheTrialsBackboneBringsItsWeightsAndTorchvisionPreprocessing) {
  const nlohmann::json trainer = nlohmann::json::parse(R"({
      "kind": "torch", "dataset": {"name": "cifar10", "path": "/d"},
      "backbone": {"name": {"param": "backbone"},
                   "weights": {"googlenet": "/w/googlenet.pth", "resnet18": "/w/r18.pth"}}})");
  const auto parse = [&](const std::string& backbone) {
    return torchtrainer::ParseTorchTrainerConfig(trainer, {{"backbone", backbone}});
  };
  absl::StatusOr<torchtrainer::TorchTrainerConfig> c = parse("googlenet");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->backbone.name, "googlenet");
  EXPECT_EQ(c->backbone.name_param, "backbone");
  EXPECT_EQ(c->backbone.weights, "/w/googlenet.pth");
  EXPECT_TRUE(c->backbone.freeze);
  // torchvision's transform_input, folded into the normalisation.
  EXPECT_EQ(c->preprocessing.mean, (std::array<double, 3>{0.5, 0.5, 0.5}));
  EXPECT_EQ(c->preprocessing.std, (std::array<double, 3>{0.5, 0.5, 0.5}));
  c = parse("efficientnet_b0");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->backbone.weights, "");  // not in the mapping: random init
  EXPECT_EQ(c->preprocessing.interpolation, "bicubic");
  EXPECT_EQ(c->preprocessing.mean, (std::array<double, 3>{0.485, 0.456, 0.406}));
  EXPECT_EQ(c->preprocessing.center_crop, 1.0);
  EXPECT_EQ(torchtrainer::TorchTrainerParamRefs(trainer), std::vector<std::string>{"backbone"});
  EXPECT_EQ(torchtrainer::ParseTorchTrainerConfig(trainer, {}).status().message(),
            "trainer.backbone.name: names param \"backbone\", which the trial does not have "
            "(add a choice param of backbone names)");

  // The spec's preprocessing overrides the backbone's, field by field.
  nlohmann::json custom = trainer;
  custom["preprocessing"] = {{"mean", {0.1, 0.2, 0.3}}, {"center_crop", 0.875}};
  c = torchtrainer::ParseTorchTrainerConfig(custom, {{"backbone", std::string("efficientnet_b0")}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->preprocessing.mean, (std::array<double, 3>{0.1, 0.2, 0.3}));
  EXPECT_EQ(c->preprocessing.std, (std::array<double, 3>{0.229, 0.224, 0.225}));
  EXPECT_EQ(c->preprocessing.interpolation, "bicubic");
  EXPECT_EQ(c->preprocessing.center_crop, 0.875);

  // unfreeze_from: a torchvision block name, counted as unfreeze_stages.
  nlohmann::json partial = trainer;
  partial["backbone"]["unfreeze_from"] = "layer3";
  c = torchtrainer::ParseTorchTrainerConfig(partial, {{"backbone", std::string("resnet18")}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->backbone.unfreeze_stages, 2);  // layer3, layer4
  partial["backbone"]["unfreeze_from"] = "features.7";
  c = torchtrainer::ParseTorchTrainerConfig(partial,
                                            {{"backbone", std::string("efficientnet_b2")}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->backbone.unfreeze_stages, 2);  // features.7, features.8
  c = torchtrainer::ParseTorchTrainerConfig(partial, {{"backbone", std::string("resnet18")}});
  EXPECT_EQ(c.status().message(),
            "trainer.backbone.unfreeze_from: resnet18 has no stage \"features.7\" (its stages: "
            "layer1, layer2, layer3, layer4)");
  partial["backbone"]["unfreeze_stages"] = 1;
  c = torchtrainer::ParseTorchTrainerConfig(partial,
                                            {{"backbone", std::string("efficientnet_b2")}});
  EXPECT_EQ(c.status().message(),
            "trainer.backbone.unfreeze_from: give it or unfreeze_stages, not both");

  // The small backbones train from scratch by default.
  c = parse("lenet5");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->backbone.freeze);
}

}  // namespace
}  // namespace tuner::worker
