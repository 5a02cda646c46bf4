// SyntheticTrainer: a deterministic stand-in for training, for tests, demos and load
// benchmarks. It exercises everything a real trainer does with the worker loop (per-epoch
// reports, executions, stop answers, checkpoints and resume, failures) without any model.
//
// The curve (documented in docs/worker.md; keep the two in step):
//   h_p   = FNV-1a-64 of "name=ParamValueToString(value)" for each param p
//   u_p   = splitmix64(h_p) mapped to [0, 1)
//   H     = FNV-1a-64 over all "name=value;" in name order (the params hash)
//   lr term    s_lr = exp(-(log10(learning_rate) + 3)^2 / 2)   1 at 1e-3; numeric > 0 only
//   dropout    s_do = clamp(1 - (dropout - 0.3)^2, 0, 1)         mild; numeric only
//   quality q  = weighted mean of: mean(u_p over the other params) w 0.4, s_lr w 0.45, s_do w 0.15
//                (weights of absent terms drop out; no params at all: q = 0.5)
//   asymptote A = 0.5 + 0.45 q                                   in [0.5, 0.95]
//   time constant tau = clamp(2 + 2 (-log10(learning_rate) - 2), 1, 8) with a learning_rate,
//                       else 2 + 4 u_H with u_H = splitmix64(H) in [0, 1)
//   v(e)  = clamp(A (1 - exp(-e / tau)) + noise * z, 0, 1)
//   z     = Box-Muller normal: k1 = sm(sm(sm(seed + execution) ^ epoch) ^ H), k2 = sm(k1),
//           u1 = 1 - unit(k1), u2 = unit(k2), z = sqrt(-2 ln u1) cos(2 pi u2)
//           (sm = splitmix64, unit(k) = (k >> 11) / 2^53)
// Same params, epoch, seed and execution give the same value (bit for bit with the same math
// library), so a trial resumed from its checkpoint continues its curve exactly.
//
// trainer section keys (all optional): sleep_seconds (per epoch of each execution, default 0),
// noise (default 0.01), fail_probability (default 0: the fraction of trials, chosen by (seed,
// params), that fail with UNAVAILABLE "synthetic failure" at a fixed epoch), nan_at_epoch (fail
// with FAILED_PRECONDITION "loss became NaN at epoch E").
#ifndef TUNER_TRIAL_WORKER_SYNTHETIC_TRAINER_H_
#define TUNER_TRIAL_WORKER_SYNTHETIC_TRAINER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "trial-worker/trainer.h"
#include "trial-worker/training/synthetic_config.h"

namespace tuner::worker {

// The metrics of one epoch of one execution, whose seed is the trial's seed + execution:
// val_accuracy (v), val_loss (1 - v), train_loss (noise-free, a little below val_loss) and lr
// (the learning_rate param, 1e-3 without one).
std::map<std::string, double> SyntheticMetrics(const search::Params& params, int epoch,
                                               uint64_t seed, double noise);

// Stateless; thread-safe (the Trainer contract asks only for thread-compatible).
// Executions run epoch by epoch side by side (epoch 1 of each, then epoch 2, ...), so after a
// stop every execution has the same epochs. The value is the mean over executions of each
// one's best epoch (Keras Tuner's rule), or of its last with TrialAssignment::reduce_last;
// the metrics are those of the same epochs.
// Checkpoint: JSON {trainer: "synthetic", trial_id, seed, epoch, executions: [{values: [...],
// metrics: {...}}]} with each execution's per-epoch values and last metrics.
class SyntheticTrainer final : public Trainer {
 public:
  absl::StatusOr<TrainResult> Train(const TrialAssignment& assignment,
                                    TrialContext& context) override;
};

}  // namespace tuner::worker

#endif  // TUNER_TRIAL_WORKER_SYNTHETIC_TRAINER_H_
