// Execution: one of a trial's executions_per_trial runs (its own seed): the head (and, when
// it trains, its own backbone), the optimizer, the learning-rate schedule, Keras' callbacks
// and the epoch it reports, with checkpoint save / load so a promoted Hyperband trial
// continues.
//
// The reported epoch (Keras Tuner's rule): the best epoch by the objective so far; with
// reduce_last the last epoch, or early stopping's best when restore_best is set (Keras 3
// restores it at the stop and at the end of training). Its weights are kept beside the live
// ones: checkpoints carry both, the live weights continue a promoted trial exactly as an
// uninterrupted run would, the reported ones are what ensembles and re-scoring evaluate.
#ifndef TUNER_TRIAL_WORKER_TORCH_EXECUTION_H_
#define TUNER_TRIAL_WORKER_TORCH_EXECUTION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "trial-worker/torch/backbone.h"
#include "trial-worker/training/keras_callbacks.h"
#include "trial-worker/training/torch_config.h"
#include "trial-worker/torch/transfer_head.h"

namespace tuner::worker::torchtrainer {

struct ExecutionSetup {
  const TorchTrainerConfig* config = nullptr;  // outlives the execution
  int64_t feature_dim = 0;
  int64_t num_classes = 0;
  // This execution's trainable backbone; null when the backbone is frozen and the inputs
  // are its features.
  std::shared_ptr<BackboneImpl> backbone;
  torch::Device device = torch::kCPU;
  bool amp = false;         // CUDA only: autocast + dynamic loss scaling
  bool maximize = true;     // direction of the objective
  bool reduce_last = false; // objective.reduce: last
  int schedule_epochs = 1;  // cosine horizon
};

// Thread-compatible; distinct executions may train on distinct threads at the same time
// (their state is their own; a frozen backbone they share is only read).
class Execution {
 public:
  // Seeds torch's generator with `seed` before building the head.
  Execution(const ExecutionSetup& setup, uint64_t seed);

  void SetTraining(bool training);
  // Sets the learning rate for `epoch` (1-based): cosine / warm-up, times the plateau factor.
  void BeginEpoch(int epoch);
  // Seeds this execution's own dropout generator (the head's masks). Every execution has its
  // own, so executions may train on separate threads and draw what they would one by one.
  void SeedDropout(uint64_t seed);
  // One optimisation step on a batch; returns its mean loss (NaN / inf are returned as is).
  double TrainStep(const torch::Tensor& inputs, const torch::Tensor& labels, std::mt19937_64& rng);
  // Adds the batch's summed loss and correct predictions (eval mode, no grad).
  void EvalBatch(const torch::Tensor& inputs, const torch::Tensor& labels, double* loss_sum,
                 int64_t* correct);
  // The batch's logits, float32 on the CPU (eval mode, no grad).
  torch::Tensor Predict(const torch::Tensor& inputs);
  // Records epoch `epoch`'s objective and metrics (which hold the callbacks' monitors);
  // updates the reported epoch, the plateau and early stopping. When early stopping ends the
  // execution with restore_best, the live weights become its best epoch's.
  void EndEpoch(int epoch, double value, const std::map<std::string, double>& metrics);

  bool done() const { return done_; }
  int epochs_done() const { return epochs_done_; }
  double lr() const { return lr_; }
  // The reported epoch (see the file comment), its objective value and metrics.
  int ReportedEpoch() const { return Reported().epoch; }
  double Objective() const { return Reported().value; }
  const std::map<std::string, double>& ObjectiveMetrics() const { return Reported().metrics; }
  // Puts the reported epoch's weights into the model (for evaluation; training must not
  // continue afterwards).
  void UseReportedWeights();

  void Save(torch::serialize::OutputArchive& archive);
  // INVALID_ARGUMENT / FAILED_PRECONDITION when the archive does not fit this execution.
  absl::Status Load(torch::serialize::InputArchive& archive);

 private:
  // One epoch's value, metrics and (when kept) weights.
  struct Snapshot {
    int epoch = 0;  // 0: none yet
    double value = 0;
    std::map<std::string, double> metrics;
    std::vector<torch::Tensor> weights;  // empty: the live weights (the last epoch)
  };
  const Snapshot& Reported() const;
  bool Better(double a, double b) const { return maximize_ ? a > b : a < b; }
  std::vector<torch::Tensor> TrainableState();
  std::vector<torch::Tensor> CopyOfTrainableState();
  static nlohmann::json SnapshotJson(const Snapshot& snapshot);
  torch::Tensor Forward(const torch::Tensor& inputs);
  void SetLearningRate(double lr);

  // Constant after construction.
  const TorchTrainerConfig& config_;
  const torch::Device device_;
  const bool amp_;
  const bool maximize_;
  const bool reduce_last_;
  const int schedule_epochs_;
  std::shared_ptr<BackboneImpl> backbone_;                   // null: inputs are features
  std::vector<std::shared_ptr<torch::nn::Module>> frozen_;   // non-empty: backbone partly frozen
  std::vector<std::shared_ptr<torch::nn::Module>> trainable_stages_;  // when partly frozen
  TransferHead head_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<double> group_base_lr_;                        // per param group
  at::Generator dropout_generator_;                          // the head's dropout masks

  // Training state (saved in checkpoints).
  double lr_ = 0;                 // head learning rate this epoch
  double plateau_factor_ = 1;     // ReduceLROnPlateau's accumulated factor
  std::optional<EarlyStopping> early_stopping_;
  std::optional<ReduceLrOnPlateau> plateau_;
  bool done_ = false;
  int epochs_done_ = 0;
  double loss_scale_ = 65536;     // AMP only
  Snapshot last_;                 // the last epoch (live weights)
  Snapshot best_;                 // best epoch by the objective (weights kept unless reduce_last)
  Snapshot monitor_best_;         // early stopping's best (weights kept with restore_best)
};

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_EXECUTION_H_
