#include "trial-worker/torch/trial_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/sha256.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "trial-worker/torch/compute_threads.h"
#include "trial-worker/training/trainer_spec.h"

namespace tuner::worker::torchtrainer {
namespace {

// -2: executions keep their reported epoch's weights beside the live ones.
constexpr char kCheckpointFormat[] = "tuner-torch-checkpoint-2";

absl::StatusOr<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("weights file ", path, " not found"));
  Sha256 hasher;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hasher.Update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  return hasher.HexDigest();
}

// A permutation of [0, n) from a seed, independent of torch's generator.
torch::Tensor Shuffled(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  return torch::tensor(order, torch::kInt64);
}

}  // namespace

TrialRun::TrialRun(const TrialAssignment& assignment, TrialContext& context)
    : a_(assignment), context_(context) {}

absl::StatusOr<std::shared_ptr<BackboneImpl>> TrialRun::NewBackbone(uint64_t init_seed) {
  torch::manual_seed(init_seed);
  absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone =
      MakeBackbone(config_.backbone.name, config_.input_size);
  if (!backbone.ok()) return backbone.status();
  if (weights_) {
    if (absl::Status s = LoadTorchvisionWeights(**backbone, config_.backbone.name, *weights_,
                                                config_.backbone.weights);
        !s.ok()) {
      return s;
    }
  }
  return backbone;
}

absl::Status TrialRun::Prepare() {
  if (a_.budget_epochs < 1) return absl::InvalidArgumentError("budget_epochs: must be >= 1");
  if (a_.executions < 1) return absl::InvalidArgumentError("executions: must be >= 1");
  if (a_.start_epoch < 0 || a_.start_epoch >= a_.budget_epochs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start_epoch: must be in [0, budget_epochs) = [0, ", a_.budget_epochs, ")"));
  }
  absl::StatusOr<TorchTrainerConfig> config = ParseTorchTrainerConfig(a_.trainer_config, a_.params);
  if (!config.ok()) return config.status();
  config_ = *config;
  frozen_ = BackboneFrozen(config_);
  if (absl::Status s = CheckObjectiveMetric("torch", a_.objective_metric); !s.ok()) return s;

  try {
    device_ = torch::Device(a_.device);
  } catch (const c10::Error&) {
    return absl::InvalidArgumentError(
        absl::StrCat("device: \"", a_.device, "\" is not a device (cpu, cuda:N)"));
  }
  if (device_.is_cuda() && (!torch::cuda::is_available() ||
                            device_.index() >= static_cast<int>(torch::cuda::device_count()))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "device ", a_.device, ": this libtorch has no such CUDA device (CPU-only build or "
        "fewer GPUs); rebuild against a CUDA libtorch (docs/trainer.md) or use cpu"));
  }
  // Always set: results depend on the intra-op thread count (reductions split by thread), and
  // libtorch's own default is whatever OpenMP sees (1 on a 2-CPU box here, more elsewhere).
  // BLAS's threads too (compute_threads.h): `--threads` is the whole compute thread count.
  threads_ = SetComputeThreads(a_.threads);
  static std::once_flag logged;
  std::call_once(logged, [threads = threads_] {
    spdlog::info("compute threads: {} (torch intra-op); BLAS: {}", threads, DescribeBlas());
  });

  absl::StatusOr<DatasetSplits> data = LoadSplits(config_.dataset);
  if (!data.ok()) return data.status();
  data_ = std::move(*data);
  transform_ = std::make_unique<BatchTransform>(config_.augmentation, config_.input_size,
                                              config_.preprocessing);

  if (!config_.backbone.weights.empty()) {
    absl::StatusOr<StateDict> weights = ReadStateDictFile(config_.backbone.weights);
    if (!weights.ok()) return weights.status();
    weights_ = std::move(*weights);
  }

  ExecutionSetup setup;
  setup.config = &config_;
  setup.num_classes = data_.train.num_classes;
  setup.device = device_;
  setup.amp = device_.is_cuda();
  setup.maximize = a_.maximize;
  setup.reduce_last = a_.reduce_last;
  setup.schedule_epochs = a_.budget_epochs;
  if (frozen_) {
    // One backbone for every execution: frozen weights do not depend on the seed. Without a
    // weights file it is initialised from a fixed seed so its features can be cached.
    absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone = NewBackbone(0);
    if (!backbone.ok()) return backbone.status();
    shared_backbone_ = *backbone;
    shared_backbone_->eval();
    for (auto& p : shared_backbone_->parameters()) p.set_requires_grad(false);
    shared_backbone_->to(device_);
    setup.feature_dim = shared_backbone_->feature_dim();
    if (config_.feature_cache && !a_.cache_dir.empty()) {
      if (config_.backbone.weights.empty()) {
        weights_id_ = "random-init-0";
      } else {
        absl::StatusOr<std::string> digest = FileSha256(config_.backbone.weights);
        if (!digest.ok()) return digest.status();
        weights_id_ = *digest;
      }
      cache_ = std::make_unique<FeatureCache>(a_.cache_dir,
                                              config_.feature_cache_max_mb * (int64_t{1} << 20));
    }
  }
  for (int x = 0; x < a_.executions; ++x) {
    setup.backbone = nullptr;
    if (!frozen_) {
      absl::StatusOr<std::shared_ptr<BackboneImpl>> backbone = NewBackbone(ExecutionSeed(x));
      if (!backbone.ok()) return backbone.status();
      setup.backbone = *backbone;
      setup.feature_dim = setup.backbone->feature_dim();
    }
    executions_.push_back(std::make_unique<Execution>(setup, ExecutionSeed(x)));
  }
  if (a_.start_epoch > 0) return LoadCheckpoint();
  return absl::OkStatus();
}

std::string TrialRun::CacheKey(const std::string& split, const std::string& view) const {
  const DatasetConfig& d = config_.dataset;
  const AugmentConfig& g = config_.augmentation;
  const PreprocessConfig& p = config_.preprocessing;
  std::error_code ec;
  const std::string path = std::filesystem::weakly_canonical(d.path, ec).string();
  return absl::StrCat("tuner-features-1|weights=", weights_id_, "|backbone=",
                      config_.backbone.name, "|dataset=", d.name, "|path=", path, "|label=",
                      d.label, "|val_fraction=", d.val_fraction, "|split_seed=", d.split_seed,
                      "|limit_train=", d.limit_train, "|limit_val=", d.limit_val, "|input=",
                      config_.input_size, "|mean=", absl::StrJoin(p.mean, ","), "|std=",
                      absl::StrJoin(p.std, ","), "|interpolation=", p.interpolation,
                      "|center_crop=", p.center_crop, "|split=", split, "|view=", view, "|aug=",
                      view.empty() ? std::string("none")
                                   : absl::StrCat(g.rotation, ",", g.shift, ",", g.hflip, ",",
                                                  g.cutout));
}

FeatureSet TrialRun::ComputeFeatures(const ImageSet& set, bool augment, uint64_t seed) {
  torch::NoGradGuard no_grad;
  BatchLoader loader(set, torch::arange(set.size(), torch::kInt64), config_.eval_batch_size,
                     *transform_, augment, seed);
  std::vector<torch::Tensor> parts;
  while (std::optional<Batch> batch = loader.Next()) {
    torch::Tensor x = batch->inputs.to(device_);
    if (device_.is_cuda()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    parts.push_back(shared_backbone_->Features(x).to(torch::kCPU, torch::kFloat));
  }
  return FeatureSet{torch::cat(parts), set.labels};
}

absl::StatusOr<FeatureSet> TrialRun::Features(const ImageSet& set, const std::string& split,
                                              const std::string& view) {
  const bool augment = !view.empty();
  // The view's augmentation depends on its name only, so every trial of a study (and every
  // study with the same data and augmentation) trains on the same views: comparisons
  // between trials see the same images.
  uint64_t seed = 0xfea7u;
  for (char c : view) seed = MixSeed(seed, static_cast<unsigned char>(c));
  const auto compute = [&]() -> absl::StatusOr<FeatureSet> {
    return ComputeFeatures(set, augment, seed);
  };
  if (!cache_) return compute();
  bool hit = false;
  absl::StatusOr<FeatureSet> out = cache_->GetOrCompute(CacheKey(split, view), compute, &hit);
  spdlog::debug("study {} trial {}: feature cache {} for {} view {}", a_.study_id, a_.trial_id,
                hit ? "hit" : "miss", split, view.empty() ? "clean" : view);
  return out;
}

std::string TrialRun::TrainView(int execution, int epoch) const {
  if (!config_.augmentation.Enabled()) return "";
  const int views = config_.augmentation.views;
  const int view = views > 0 ? (epoch - 1) % views : epoch - 1;
  return absl::StrCat("x", execution, ".e", view);
}

absl::Status TrialRun::LoadTrainViews(const std::vector<int>& live, int epoch) {
  std::set<std::string> needed;
  for (int x : live) needed.insert(TrainView(x, epoch));
  for (auto it = train_views_.begin(); it != train_views_.end();) {
    it = needed.count(it->first) ? std::next(it) : train_views_.erase(it);
  }
  for (const std::string& view : needed) {
    if (train_views_.count(view)) continue;
    absl::StatusOr<FeatureSet> features = Features(data_.train, "train", view);
    if (!features.ok()) return features.status();
    train_views_.emplace(view, std::move(*features));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> TrialRun::TrainExecutionEpoch(int x, int epoch) {
  Execution& execution = *executions_[x];
  const uint64_t seed = MixSeed(ExecutionSeed(x), static_cast<uint64_t>(epoch));
  // Each execution draws its own data order, augmentation, dropout and mixup, and the same
  // draws when a resumed trial trains this epoch again: the execution's dropout generator is
  // reseeded for every (execution, epoch), and so is torch's global one where a trained
  // backbone's own dropout draws from it (never on the threaded, cached path).
  execution.SeedDropout(seed);
  const bool cached = CachedFeatures();
  if (!cached) torch::manual_seed(seed);
  std::mt19937_64 rng(MixSeed(seed, 0x313bu));
  const torch::Tensor order = Shuffled(data_.train.size(), MixSeed(seed, 0x0de7u));
  double loss_sum = 0;
  int64_t batches = 0;
  const auto step = [&](const torch::Tensor& inputs, const torch::Tensor& labels) -> absl::Status {
    double loss = execution.TrainStep(inputs, labels, rng);
    if (epoch == config_.test_nan_at_epoch) loss = std::nan("");
    if (!std::isfinite(loss)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "loss became ", std::isnan(loss) ? "NaN" : "inf", " at epoch ", epoch));
    }
    loss_sum += loss;
    ++batches;
    return absl::OkStatus();
  };
  if (cached) {
    const FeatureSet& set = train_views_.at(TrainView(x, epoch));
    const int64_t n = order.size(0);
    for (int64_t start = 0; start < n && !context_.StopRequested(); start += config_.batch_size) {
      torch::Tensor idx = order.slice(0, start, std::min(n, start + config_.batch_size));
      if (absl::Status s = step(set.features.index_select(0, idx), set.labels.index_select(0, idx));
          !s.ok()) {
        return s;
      }
    }
  } else {
    BatchLoader loader(data_.train, order, config_.batch_size, *transform_,
                       config_.augmentation.Enabled(), MixSeed(seed, 0xa06u));
    while (std::optional<Batch> batch = loader.Next()) {
      if (context_.StopRequested()) break;
      torch::Tensor inputs = batch->inputs;
      if (frozen_) {
        torch::NoGradGuard no_grad;
        torch::Tensor images = inputs.to(device_);
        if (device_.is_cuda()) images = images.contiguous(torch::MemoryFormat::ChannelsLast);
        inputs = shared_backbone_->Features(images);
      }
      if (absl::Status s = step(inputs, batch->labels); !s.ok()) return s;
    }
  }
  return loss_sum / static_cast<double>(std::max<int64_t>(1, batches));
}

absl::Status TrialRun::TrainEpoch(const std::vector<int>& live, int epoch,
                                  std::vector<double>* loss) {
  const bool cached = CachedFeatures();
  if (cached) {
    if (absl::Status s = LoadTrainViews(live, epoch); !s.ok()) return s;
  }
  const int workers = std::min(static_cast<int>(live.size()), threads_);
  if (!cached || !device_.is_cpu() || workers < 2) {
    for (int x : live) {
      absl::StatusOr<double> value = TrainExecutionEpoch(x, epoch);
      if (!value.ok()) return value.status();
      (*loss)[x] = *value;
      if (context_.StopRequested()) break;
    }
    return absl::OkStatus();
  }
  // Together: `workers` threads take the live executions in turn, each op of each with
  // threads_ / workers threads (so the cores are used once, never twice).
  const int per_worker = std::max(1, threads_ / workers);
  SetBlasThreads(per_worker);  // OpenBLAS's pthread variant has one global pool
  std::vector<absl::Status> status(live.size());
  std::atomic<size_t> next{0};
  const auto work = [&] {
    SetThisThreadComputeThreads(per_worker);
    for (size_t i = next++; i < live.size(); i = next++) {
      try {
        absl::StatusOr<double> value = TrainExecutionEpoch(live[i], epoch);
        if (value.ok()) {
          (*loss)[live[i]] = *value;
        } else {
          status[i] = value.status();
        }
      } catch (const std::exception& e) {
        status[i] = absl::InternalError(absl::StrCat("execution ", live[i], ": ", e.what()));
      }
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  SetComputeThreads(threads_);
  for (const absl::Status& s : status) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void TrialRun::Validate(const std::vector<int>& live, std::vector<double>* loss,
                        std::vector<int64_t>* correct) {
  const auto eval_all = [&](const torch::Tensor& inputs, const torch::Tensor& labels) {
    for (int x : live) executions_[x]->EvalBatch(inputs, labels, &(*loss)[x], &(*correct)[x]);
  };
  if (frozen_) {
    const int64_t n = val_features_->labels.size(0);
    for (int64_t start = 0; start < n; start += config_.eval_batch_size) {
      const int64_t end = std::min(n, start + config_.eval_batch_size);
      eval_all(val_features_->features.slice(0, start, end),
               val_features_->labels.slice(0, start, end));
    }
    return;
  }
  BatchLoader loader(data_.val, torch::arange(data_.val.size(), torch::kInt64),
                     config_.eval_batch_size, *transform_, /*augment=*/false, 0);
  while (std::optional<Batch> batch = loader.Next()) eval_all(batch->inputs, batch->labels);
}

absl::StatusOr<TrainResult> TrialRun::Run() {
  if (absl::Status s = Prepare(); !s.ok()) return s;
  if (frozen_) {
    absl::StatusOr<FeatureSet> val = Features(data_.val, "val", "");
    if (!val.ok()) return val.status();
    val_features_ = std::move(*val);
  }
  const int64_t n_train = data_.train.size();
  const int64_t n_val = data_.val.size();
  int completed = a_.start_epoch;
  for (int epoch = a_.start_epoch + 1; epoch <= a_.budget_epochs && !stopped_; ++epoch) {
    std::vector<int> live;
    for (size_t x = 0; x < executions_.size(); ++x) {
      if (!executions_[x]->done()) live.push_back(static_cast<int>(x));
    }
    if (live.empty()) break;  // every execution stopped early
    for (int x : live) {
      executions_[x]->SetTraining(true);
      executions_[x]->BeginEpoch(epoch);
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<double> train_loss(executions_.size(), 0);
    if (absl::Status s = TrainEpoch(live, epoch, &train_loss); !s.ok()) return s;
    if (context_.StopRequested()) stopped_ = true;
    if (stopped_) break;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> val_loss(executions_.size(), 0);
    std::vector<int64_t> correct(executions_.size(), 0);
    for (int x : live) executions_[x]->SetTraining(false);
    Validate(live, &val_loss, &correct);
    for (int x : live) {
      EpochReport report;
      report.execution = x;
      report.epoch = epoch;
      report.metrics = {
          {"val_accuracy", static_cast<double>(correct[x]) / std::max<int64_t>(1, n_val)},
          {"val_loss", val_loss[x] / std::max<int64_t>(1, n_val)},
          {"train_loss", train_loss[x]},
          {"lr", executions_[x]->lr()},
          {"images_per_second",
           static_cast<double>(n_train) * static_cast<double>(live.size()) / std::max(1e-9, seconds)}};
      report.value = report.metrics.at(a_.objective_metric);
      if (!std::isfinite(report.metrics["val_loss"])) {
        return absl::FailedPreconditionError(absl::StrCat("loss became NaN at epoch ", epoch));
      }
      executions_[x]->EndEpoch(epoch, report.value, report.metrics);
      if (!context_.ReportEpoch(report)) stopped_ = true;
    }
    completed = epoch;
    spdlog::info("study {} trial {}: epoch {}/{} {:.1f} s, {:.0f} images/s", a_.study_id,
                 a_.trial_id, epoch, a_.budget_epochs, seconds,
                 n_train * live.size() / std::max(1e-9, seconds));
  }

  TrainResult result;
  result.epochs_done = completed;
  result.stopped = stopped_;
  for (const auto& execution : executions_) {
    result.value += execution->Objective() / a_.executions;
    for (const auto& [name, value] : execution->ObjectiveMetrics()) {
      result.metrics[name] += value / a_.executions;
    }
  }
  if (!a_.checkpoint_out_path.empty() && !stopped_ && completed > 0) {
    if (absl::Status s = WriteCheckpoint(completed); !s.ok()) return s;
    result.checkpoint_written = true;
  }
  return result;
}

absl::Status TrialRun::WriteCheckpoint(int epoch) {
  torch::serialize::OutputArchive archive;
  const nlohmann::json meta = {{"format", kCheckpointFormat}, {"trial_id", a_.trial_id},
                               {"seed", a_.seed},             {"epoch", epoch},
                               {"executions", a_.executions}, {"backbone", config_.backbone.name},
                               {"frozen", frozen_}};
  archive.write("meta", c10::IValue(meta.dump()));
  for (size_t x = 0; x < executions_.size(); ++x) {
    torch::serialize::OutputArchive sub;
    executions_[x]->Save(sub);
    archive.write(absl::StrCat("execution", x), sub);
  }
  const std::string temp = a_.checkpoint_out_path + ".tmp";
  archive.save_to(temp);
  if (std::rename(temp.c_str(), a_.checkpoint_out_path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", temp, " to ", a_.checkpoint_out_path));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ReadCheckpointMeta(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", path, " not found"));
  }
  nlohmann::json meta;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue text;
    archive.read("meta", text);
    meta = nlohmann::json::parse(text.toStringRef());
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, " is not a torch trainer checkpoint: ", e.what()));
  }
  if (!meta.is_object() || meta.value("format", "") != kCheckpointFormat) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, " is not in format ", kCheckpointFormat));
  }
  return meta;
}

absl::StatusOr<torch::Tensor> TrialRun::Probabilities(const ImageSet& set,
                                                      const std::string& split) {
  if (a_.start_epoch < 1) {
    return absl::InvalidArgumentError("start_epoch: must name the checkpoint's epoch (>= 1)");
  }
  if (absl::Status s = Prepare(); !s.ok()) return s;
  if (set.size() == 0) return absl::InvalidArgumentError(absl::StrCat(split, " set is empty"));
  if (set.num_classes != data_.train.num_classes) {
    return absl::FailedPreconditionError(absl::StrCat(split, " set has ", set.num_classes,
                                                      " classes, the training set ",
                                                      data_.train.num_classes));
  }
  std::vector<torch::Tensor> sums(executions_.size());
  const auto add = [&](const torch::Tensor& inputs, int64_t start) {
    for (size_t x = 0; x < executions_.size(); ++x) {
      torch::Tensor p = torch::softmax(executions_[x]->Predict(inputs), 1);
      if (!sums[x].defined()) sums[x] = torch::zeros({set.size(), p.size(1)}, torch::kFloat);
      sums[x].slice(0, start, start + p.size(0)).copy_(p);
    }
  };
  for (auto& execution : executions_) {
    execution->UseReportedWeights();
    execution->SetTraining(false);
  }
  if (frozen_) {
    absl::StatusOr<FeatureSet> features = Features(set, split, "");
    if (!features.ok()) return features.status();
    const int64_t n = features->labels.size(0);
    for (int64_t start = 0; start < n; start += config_.eval_batch_size) {
      add(features->features.slice(0, start, std::min(n, start + config_.eval_batch_size)), start);
    }
  } else {
    BatchLoader loader(set, torch::arange(set.size(), torch::kInt64), config_.eval_batch_size,
                       *transform_, /*augment=*/false, 0);
    int64_t start = 0;
    while (std::optional<Batch> batch = loader.Next()) {
      add(batch->inputs, start);
      start += batch->labels.size(0);
    }
  }
  torch::Tensor mean = sums[0].clone();
  for (size_t x = 1; x < sums.size(); ++x) mean += sums[x];
  return mean / static_cast<double>(sums.size());
}

absl::Status TrialRun::LoadCheckpoint() {
  const std::string& path = a_.resume_checkpoint_path;
  if (path.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "start_epoch is ", a_.start_epoch, " but the assignment has no resume checkpoint"));
  }
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("resume checkpoint ", path, " not found"));
  }
  torch::serialize::InputArchive archive;
  nlohmann::json meta;
  try {
    archive.load_from(path);
    c10::IValue text;
    archive.read("meta", text);
    meta = nlohmann::json::parse(text.toStringRef());
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat(
        "resume checkpoint ", path, " is not a torch trainer checkpoint: ", e.what()));
  }
  const auto mismatch = [&](const std::string& what, const std::string& have,
                            const std::string& want) {
    return absl::FailedPreconditionError(absl::StrCat("resume checkpoint ", path, " has ", what,
                                                      " ", have, ", the trial ", want));
  };
  if (meta.value("format", "") != kCheckpointFormat) {
    return mismatch("format", meta.value("format", "?"), kCheckpointFormat);
  }
  if (meta.value("epoch", -1) != a_.start_epoch) {
    return mismatch("epoch", std::to_string(meta.value("epoch", -1)),
                    absl::StrCat("starts after epoch ", a_.start_epoch));
  }
  if (meta.value("executions", -1) != a_.executions) {
    return mismatch("executions", std::to_string(meta.value("executions", -1)),
                    std::to_string(a_.executions));
  }
  if (meta.value("backbone", "") != config_.backbone.name || meta.value("frozen", !frozen_) != frozen_) {
    return mismatch("backbone", meta.value("backbone", "?"), config_.backbone.name);
  }
  for (size_t x = 0; x < executions_.size(); ++x) {
    torch::serialize::InputArchive sub;
    try {
      archive.read(absl::StrCat("execution", x), sub);
    } catch (const std::exception& e) {
      return absl::FailedPreconditionError(
          absl::StrCat("resume checkpoint ", path, " lacks execution ", x));
    }
    if (absl::Status s = executions_[x]->Load(sub); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace tuner::worker::torchtrainer
