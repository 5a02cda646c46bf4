// The torch trainer's configuration: the spec's `trainer:` section (JSON in
// TrialAssignment::trainer_config) parsed and validated, plus the trial's head params.
// docs/trainer.md lists every key. Torch-free, so the server checks a study's trainer section
// at CreateStudy with the same code the worker runs.
#ifndef TUNER_TRIAL_WORKER_TRAINING_TORCH_CONFIG_H_
#define TUNER_TRIAL_WORKER_TRAINING_TORCH_CONFIG_H_

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

struct BackboneConfig {
  std::string name = "resnet50";
  std::string weights;           // torchvision state dict (.pth); empty: random init
  bool freeze = true;            // default: true for resnet50, false for the small backbones
  int unfreeze_stages = 0;       // with freeze: train the last N stages anyway
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

// Whether only the head trains (the backbone is frozen whole).
bool BackboneFrozen(const TorchTrainerConfig& config);

// The backbones trainer.backbone.name accepts (backbone.cc builds each of them).
const std::vector<std::string>& TorchBackboneNames();

// The metrics every epoch report of the torch trainer carries: what objective.metric and the
// callbacks' monitor may name.
const std::vector<std::string>& TorchReportedMetrics();

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TRAINING_TORCH_CONFIG_H_
