// TrialRun: one Train call of the torch trainer: loads the data and the backbone, builds the
// trial's executions (resuming them from a checkpoint when start_epoch > 0), runs the epochs,
// reports each to the TrialContext and writes the checkpoint at the end.
#ifndef TUNER_TRIAL_WORKER_TORCH_TRIAL_RUN_H_
#define TUNER_TRIAL_WORKER_TORCH_TRIAL_RUN_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "trial-worker/torch/backbone.h"
#include "trial-worker/torch/batch_loader.h"
#include "trial-worker/torch/batch_transform.h"
#include "trial-worker/torch/datasets.h"
#include "trial-worker/torch/execution.h"
#include "trial-worker/torch/feature_cache.h"
#include "trial-worker/torch/state_dict_file.h"
#include "trial-worker/training/torch_config.h"
#include "trial-worker/trainer.h"

namespace tuner::worker::torchtrainer {

// Single use, called from one thread. With a frozen backbone, cached features, two or more
// executions and two or more threads on the CPU, the executions of an epoch train at the same
// time, each on its own thread with its ops single-threaded (threads / executions each): no
// barrier between cores inside a step, which on a shared box costs more than the step (issue
// 14), and each execution's results do not depend on which thread ran it. May throw
// c10::Error / std::exception; TorchTrainer catches.
// The JSON header a checkpoint written by TrialRun carries: format, trial_id, seed, epoch,
// executions, backbone, frozen. FAILED_PRECONDITION when the file is not such a checkpoint.
absl::StatusOr<nlohmann::json> ReadCheckpointMeta(const std::string& path);

class TrialRun {
 public:
  TrialRun(const TrialAssignment& assignment, TrialContext& context);
  absl::StatusOr<TrainResult> Run();
  // Instead of Run: the trial's model as its checkpoint left it (start_epoch > 0 and
  // resume_checkpoint_path name it), evaluated on `set` without augmentation. Softmax
  // probabilities [N, classes], float32 on the CPU, averaged over the trial's executions.
  // `split` names the set in feature cache keys (e.g. "test").
  absl::StatusOr<torch::Tensor> Probabilities(const ImageSet& set, const std::string& split);

 private:
  absl::Status Prepare();
  absl::StatusOr<std::shared_ptr<BackboneImpl>> NewBackbone(uint64_t init_seed);
  absl::Status LoadCheckpoint();
  absl::Status WriteCheckpoint(int epoch);
  // Frozen backbone: features of `set` (view empty: no augmentation, else the augmented view
  // of that name), from the cache or computed.
  absl::StatusOr<FeatureSet> Features(const ImageSet& set, const std::string& split,
                                      const std::string& view);
  FeatureSet ComputeFeatures(const ImageSet& set, bool augment, uint64_t seed);
  std::string CacheKey(const std::string& split, const std::string& view) const;
  // The cached augmented view execution `x` trains on in `epoch`; empty without augmentation.
  std::string TrainView(int x, int epoch) const;
  uint64_t ExecutionSeed(int x) const { return a_.seed + static_cast<uint64_t>(x); }
  // Whether the heads train on cached backbone features (frozen backbone, feature_cache on).
  bool CachedFeatures() const { return frozen_ && config_.feature_cache; }
  // One epoch of execution `x`; its mean training loss. Executions' epochs may run on
  // separate threads at the same time (the cached views must be loaded first).
  absl::StatusOr<double> TrainExecutionEpoch(int x, int epoch);
  // Cached path: loads the views the `live` executions train on in `epoch` (only those stay
  // in memory).
  absl::Status LoadTrainViews(const std::vector<int>& live, int epoch);
  // The live executions' epoch: one after the other, or together (see the class comment).
  absl::Status TrainEpoch(const std::vector<int>& live, int epoch, std::vector<double>* loss);
  void Validate(const std::vector<int>& live, std::vector<double>* loss,
                std::vector<int64_t>* correct);

  const TrialAssignment& a_;
  TrialContext& context_;
  TorchTrainerConfig config_;
  torch::Device device_ = torch::kCPU;
  bool frozen_ = true;
  DatasetSplits data_;
  std::unique_ptr<BatchTransform> transform_;
  std::optional<StateDict> weights_;
  std::string weights_id_;                       // cache key part: sha256 or "random"
  std::shared_ptr<BackboneImpl> shared_backbone_;  // frozen only
  std::vector<std::unique_ptr<Execution>> executions_;
  std::unique_ptr<FeatureCache> cache_;
  std::optional<FeatureSet> val_features_;
  std::map<std::string, FeatureSet> train_views_;  // the cached views of this epoch, by name
  int threads_ = 1;                                // compute threads (SetComputeThreads)
  bool stopped_ = false;
};

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_TRIAL_RUN_H_
