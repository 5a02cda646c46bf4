// The torch trainer's configuration: the spec's `trainer:` section (JSON in
// TrialAssignment::trainer_config) parsed and validated, plus the trial's head params.
// docs/trainer.md lists every key. Torch-free, so the server checks a study's trainer section
// at CreateStudy with the same code the worker runs.
#ifndef TUNER_TRIAL_WORKER_TRAINING_TORCH_CONFIG_H_
#define TUNER_TRIAL_WORKER_TRAINING_TORCH_CONFIG_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "search/space.h"
#include "trial-worker/training/keras_callbacks.h"

namespace tuner::worker::torchtrainer {

struct DatasetConfig {
  std::string name;              // cifar10 | cifar100 | fashion_mnist | mnist
  std::string path;              // directory with the official files
  double val_fraction = 0.1;     // of the training set, split by split_seed
  uint64_t split_seed = 0;       // the same split for every trial of a study
  int64_t limit_train = 0;       // 0: all
  int64_t limit_val = 0;         // 0: all
  std::string label = "fine";    // cifar100: fine | coarse
};

// What a backbone of the zoo is: its torchvision facts (docs/trainer.md has the table).
struct BackboneInfo {
  std::string name;
  int64_t feature_dim = 0;
  int64_t min_input_size = 0;
  bool torchvision = false;         // torchvision's names: loads its state dict files
  int64_t torchvision_crop = 0;     // torchvision's eval crop: the size its weights expect
  int64_t torchvision_resize = 0;   // torchvision's resize before that crop
  std::string interpolation;        // torchvision's resize interpolation: bilinear | bicubic
  std::array<double, 3> mean{}, std{};
  // Entries of a torchvision file that are not part of the backbone (classifier, aux heads).
  std::vector<std::string> head_prefixes;
  // The stages (unfreeze_stages, unfreeze_from), input to output: torchvision's block names.
  std::vector<std::string> stages;
};

// The input pipeline's normalisation and resize (trainer.preprocessing); its defaults are the
// backbone's torchvision preprocessing.
struct PreprocessConfig {
  std::array<double, 3> mean{0.485, 0.456, 0.406};
  std::array<double, 3> std{0.229, 0.224, 0.225};
  std::string interpolation = "bilinear";  // bilinear | bicubic
  double center_crop = 1.0;  // fraction of each side kept (centred) before the resize
};

struct BackboneConfig {
  std::string name = "resnet50";
  // When trainer.backbone.name is {param: P}: P (the name above is the trial's value of it).
  std::string name_param;
  std::string weights;           // torchvision state dict (.pth); empty: random init
  bool freeze = true;            // default: true for the torchvision backbones, else false
  int unfreeze_stages = 0;       // with freeze: train the last N stages anyway (unfreeze_from
                                 // sets it from a stage name)
  double lr_scale = 0.1;         // backbone learning rate = learning_rate * lr_scale
};

struct AugmentConfig {
  double rotation = 0;           // degrees, uniform in [-rotation, rotation]
  double shift = 0;              // fraction of the side, uniform in [-shift, shift]
  bool hflip = false;
  int64_t cutout = 0;            // side of the zeroed square, pixels at input_size; 0: off
  double mixup = 0;              // Beta(alpha, alpha); 0: off
  // Feature cache only: distinct augmented views per execution; epoch e uses view
  // (e - 1) % views. 0 (default): a fresh view every epoch, like the uncached path.
  int views = 0;

  bool Enabled() const { return rotation > 0 || shift > 0 || hflip || cutout > 0; }
};

struct TorchTrainerConfig {
  DatasetConfig dataset;
  BackboneConfig backbone;
  AugmentConfig augmentation;
  PreprocessConfig preprocessing;
  int64_t input_size = 32;
  int64_t batch_size = 64;
  int64_t eval_batch_size = 256;
  double label_smoothing = 0;
  // Keras' EarlyStopping (keras_callbacks.h): monitor val_loss, min_delta 0 by default.
  bool early_stopping = false;
  MonitorConfig early_stopping_monitor;
  int early_stopping_patience = 5;
  int early_stopping_start_from_epoch = 0;
  bool restore_best = true;       // at the stop and at the end of training (Keras 3)
  // Keras' ReduceLROnPlateau: monitor val_loss, min_delta 1e-4 by default.
  bool reduce_lr = false;
  MonitorConfig reduce_lr_monitor{"val_loss", "auto", 1e-4};
  double reduce_lr_factor = 0.5;
  int reduce_lr_patience = 2;
  int reduce_lr_cooldown = 0;
  double min_lr = 0;
  // Cosine decay with linear warm-up over cosine_epochs (0: the assignment's budget).
  bool cosine = false;
  int warmup_epochs = 0;
  int cosine_epochs = 0;
  bool feature_cache = true;
  int64_t feature_cache_max_mb = 4096;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0;
  // Head defaults, overridden by the trial's params of the same name.
  int64_t units = 256;
  double dropout = 0.5;
  std::string optimizer = "adam";  // adam | rmsprop | sgd
  double learning_rate = 1e-3;
  // Test hook: the training loss reads as NaN in this epoch (0: never).
  int test_nan_at_epoch = 0;
};

// Parses `trainer` (the spec's trainer section) and applies `params` (units, dropout,
// optimizer, learning_rate) on top. INVALID_ARGUMENT naming the field ("trainer.dataset.name:
// ...", "params.optimizer: ...") and the allowed values; unknown keys are refused.
absl::StatusOr<TorchTrainerConfig> ParseTorchTrainerConfig(const nlohmann::json& trainer,
                                                           const search::Params& params);

// The search-space params the trainer section names (trainer.backbone.name: {param: P}): a
// trial always carries them, so the server checks the section with each of their values.
std::vector<std::string> TorchTrainerParamRefs(const nlohmann::json& trainer);

// Whether only the head trains (the backbone is frozen whole).
bool BackboneFrozen(const TorchTrainerConfig& config);

// The backbones trainer.backbone.name accepts (backbone.cc builds each of them).
const std::vector<std::string>& TorchBackboneNames();
// The zoo, in TorchBackboneNames() order.
const std::vector<BackboneInfo>& TorchBackbones();
// nullptr for names not in the zoo.
const BackboneInfo* FindTorchBackbone(const std::string& name);

// The metrics every epoch report of the torch trainer carries: what objective.metric and the
// callbacks' monitor may name.
const std::vector<std::string>& TorchReportedMetrics();

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TRAINING_TORCH_CONFIG_H_
