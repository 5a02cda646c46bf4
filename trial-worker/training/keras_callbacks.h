// Keras' EarlyStopping and ReduceLROnPlateau as pure state machines over the epochs' metrics
// (the rules of keras/src/callbacks/early_stopping.py and reduce_lr_on_plateau.py, rewritten):
// the trainers feed them one monitored value per epoch and apply what they decide (stop,
// restore the best weights, lower the learning rate). No torch, no I/O: tests drive them with
// plain numbers, and a trainer's checkpoint keeps their state as JSON.
#ifndef TUNER_TRIAL_WORKER_TRAINING_KERAS_CALLBACKS_H_
#define TUNER_TRIAL_WORKER_TRAINING_KERAS_CALLBACKS_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace tuner::worker {

enum class MonitorMode { kMin, kMax };

// "min" / "max" as given; "auto" (Keras' rule for the metrics our trainers report): a metric
// whose name contains "acc" is maximised, every other (val_loss, train_loss, ...) minimised.
MonitorMode ResolveMonitorMode(const std::string& metric, const std::string& mode);

// What a callback watches: the metric, the direction and the smallest change that counts.
struct MonitorConfig {
  std::string metric = "val_loss";
  std::string mode = "auto";   // auto | min | max
  double min_delta = 0;        // EarlyStopping's default 0; ReduceLROnPlateau's 1e-4
};

// Keras' EarlyStopping: an epoch improves when (value - min_delta) beats the best so far
// (min mode: value + min_delta < best); after `patience` epochs without improvement (never at
// the first epoch) training stops. Epochs are 1-based here (Keras counts from 0).
// Thread-compatible.
class EarlyStopping {
 public:
  EarlyStopping(const MonitorConfig& monitor, int patience, int start_from_epoch = 0);

  struct Step {
    bool improved = false;  // this epoch is the new best: keep its weights (restore_best)
    bool stop = false;      // training ends after this epoch
  };
  // Epoch `epoch` ended with `value` for the monitored metric. Epochs before
  // start_from_epoch (1-based: epoch <= start_from_epoch) are not watched.
  Step Update(int epoch, double value);

  int best_epoch() const { return best_epoch_; }  // 0: none yet
  double best() const { return best_; }
  int wait() const { return wait_; }

  nlohmann::json ToJson() const;
  // INVALID_ARGUMENT when `state` is not what ToJson wrote.
  absl::Status FromJson(const nlohmann::json& state);

 private:
  bool Improves(double value, double reference) const;

  // Constant after construction.
  MonitorMode mode_;
  double min_delta_;
  int patience_;
  int start_from_epoch_;

  double best_;
  int best_epoch_ = 0;
  int wait_ = 0;
};

// Keras' ReduceLROnPlateau: an epoch improves when value < best - min_delta (max mode:
// value > best + min_delta); after `patience` epochs without improvement, outside a cooldown,
// the learning rate is multiplied by `factor` unless it is already at min_lr; then `cooldown`
// epochs pass before waiting starts again. Thread-compatible.
class ReduceLrOnPlateau {
 public:
  ReduceLrOnPlateau(const MonitorConfig& monitor, double factor, int patience, int cooldown,
                    double min_lr);

  // Epoch ended with `value` while the learning rate was `lr`; returns the learning rate for
  // the next epoch (lr itself, or max(lr * factor, min_lr)).
  double Update(double value, double lr);

  double best() const { return best_; }
  int wait() const { return wait_; }
  int cooldown_counter() const { return cooldown_counter_; }

  nlohmann::json ToJson() const;
  absl::Status FromJson(const nlohmann::json& state);

 private:
  // Constant after construction.
  MonitorMode mode_;
  double min_delta_;
  double factor_;
  int patience_;
  int cooldown_;
  double min_lr_;

  double best_;
  int wait_ = 0;
  int cooldown_counter_ = 0;
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_TRAINING_KERAS_CALLBACKS_H_
