#include "trial-worker/torch/execution.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "trial-worker/torch/fused_optimizers.h"

namespace tuner::worker::torchtrainer {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Beta(alpha, alpha) from two gammas.
double SampleBeta(double alpha, std::mt19937_64& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double a = gamma(rng), b = gamma(rng);
  return a + b > 0 ? a / (a + b) : 0.5;
}

}  // namespace

Execution::Execution(const ExecutionSetup& setup, uint64_t seed)
    : config_(*setup.config),
      device_(setup.device),
      amp_(setup.amp),
      maximize_(setup.maximize),
      reduce_last_(setup.reduce_last),
      schedule_epochs_(std::max(1, setup.schedule_epochs)),
      backbone_(setup.backbone),
      dropout_generator_(at::make_generator<at::CPUGeneratorImpl>(seed)) {
  torch::manual_seed(seed);
  head_ = TransferHead(setup.feature_dim, config_.units, config_.dropout, setup.num_classes);
  head_->to(device_);
  std::vector<torch::Tensor> backbone_params;
  if (backbone_) {
    backbone_->to(device_);
    std::vector<std::shared_ptr<torch::nn::Module>> stages = backbone_->Stages();
    const bool all = !config_.backbone.freeze ||
                     config_.backbone.unfreeze_stages >= static_cast<int>(stages.size());
    for (auto& p : backbone_->parameters()) p.set_requires_grad(all);
    if (all) {
      backbone_params = backbone_->parameters();
    } else {
      frozen_.push_back(backbone_);
      for (size_t i = stages.size() - config_.backbone.unfreeze_stages; i < stages.size(); ++i) {
        for (auto& p : stages[i]->parameters()) {
          p.set_requires_grad(true);
          backbone_params.push_back(p);
        }
        trainable_stages_.push_back(stages[i]);
      }
    }
    if (device_.is_cuda()) {
      // channels_last convolutions are faster with cuDNN (and under AMP, tensor cores).
      torch::NoGradGuard no_grad;
      for (auto& p : backbone_->parameters()) {
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
      }
    }
  }
  const double lr = config_.learning_rate;
  const double wd = config_.weight_decay;
  const double backbone_lr = lr * config_.backbone.lr_scale;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  const auto options = [&](double group_lr) -> std::unique_ptr<torch::optim::OptimizerOptions> {
    if (config_.optimizer == "sgd") {
      return std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(group_lr)
                                                            .momentum(config_.momentum)
                                                            .nesterov(config_.nesterov)
                                                            .weight_decay(wd));
    }
    if (config_.optimizer == "rmsprop") {
      // Keras' RMSprop defaults (rho 0.9, epsilon 1e-7): the seed study's optimizer.
      return std::make_unique<torch::optim::RMSpropOptions>(
          torch::optim::RMSpropOptions(group_lr).alpha(0.9).eps(1e-7).weight_decay(wd));
    }
    return std::make_unique<torch::optim::AdamOptions>(
        torch::optim::AdamOptions(group_lr).eps(1e-7).weight_decay(wd));
  };
  groups.emplace_back(head_->parameters(), options(lr));
  group_base_lr_.push_back(lr);
  if (!backbone_params.empty()) {
    groups.emplace_back(backbone_params, options(backbone_lr));
    group_base_lr_.push_back(backbone_lr);
  }
  // torch's optimizers with a one-pass step (fused_optimizers.h): same state, same rule.
  if (config_.optimizer == "sgd") {
    optimizer_ = std::make_unique<FusedSGD>(groups, torch::optim::SGDOptions(lr));
  } else if (config_.optimizer == "rmsprop") {
    optimizer_ = std::make_unique<FusedRMSprop>(groups, torch::optim::RMSpropOptions(lr));
  } else {
    optimizer_ = std::make_unique<FusedAdam>(groups, torch::optim::AdamOptions(lr));
  }
  lr_ = lr;
  if (config_.early_stopping) {
    early_stopping_.emplace(config_.early_stopping_monitor, config_.early_stopping_patience,
                            config_.early_stopping_start_from_epoch);
  }
  if (config_.reduce_lr) {
    plateau_.emplace(config_.reduce_lr_monitor, config_.reduce_lr_factor,
                     config_.reduce_lr_patience, config_.reduce_lr_cooldown, config_.min_lr);
  }
}

void Execution::SetTraining(bool training) {
  head_->train(training);
  if (!backbone_) return;
  backbone_->train(training && frozen_.empty());
  // A frozen part keeps its batch norm statistics: eval mode even while training.
  for (auto& stage : trainable_stages_) stage->train(training);
}

void Execution::SetLearningRate(double factor) {
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].options().set_lr(group_base_lr_[i] * factor);
  }
  lr_ = group_base_lr_[0] * factor;
}

void Execution::BeginEpoch(int epoch) {
  double factor = plateau_factor_;
  if (config_.cosine) {
    const int warmup = config_.warmup_epochs;
    const int total = config_.cosine_epochs > 0 ? config_.cosine_epochs : schedule_epochs_;
    if (epoch <= warmup) {
      factor = static_cast<double>(epoch) / warmup;
    } else {
      const double progress =
          std::clamp(static_cast<double>(epoch - warmup - 1) / std::max(1, total - warmup), 0.0, 1.0);
      factor = 0.5 * (1 + std::cos(kPi * progress));
    }
  }
  if (config_.reduce_lr) {
    factor = std::max(factor, config_.min_lr / std::max(1e-300, group_base_lr_[0]));
  }
  SetLearningRate(factor);
}

void Execution::SeedDropout(uint64_t seed) {
  dropout_generator_ = at::make_generator<at::CPUGeneratorImpl>(seed);
}

torch::Tensor Execution::Forward(const torch::Tensor& inputs) {
  // On CUDA the masks come from the device's generator (torch's global one, seeded per epoch).
  at::Generator* generator = device_.is_cpu() ? &dropout_generator_ : nullptr;
  if (!backbone_) return head_->forward(inputs, generator);
  torch::Tensor x = inputs;
  if (device_.is_cuda()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  return head_->forward(backbone_->Features(x), generator);
}

double Execution::TrainStep(const torch::Tensor& inputs, const torch::Tensor& labels,
                            std::mt19937_64& rng) {
  torch::Tensor x = inputs.to(device_, /*non_blocking=*/true);
  torch::Tensor y = labels.to(device_, /*non_blocking=*/true);
  const auto ce = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(
      config_.label_smoothing);
  optimizer_->zero_grad();
  torch::Tensor loss;
  {
    at::autocast::set_enabled(amp_);
    torch::Tensor logits;
    if (config_.augmentation.mixup > 0) {
      const double lam = SampleBeta(config_.augmentation.mixup, rng);
      std::vector<int64_t> order(static_cast<size_t>(x.size(0)));
      for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
      std::shuffle(order.begin(), order.end(), rng);
      torch::Tensor perm = torch::tensor(order, torch::kInt64).to(device_);
      logits = Forward(x * lam + x.index_select(0, perm) * (1 - lam)).to(torch::kFloat);
      loss = lam * torch::nn::functional::cross_entropy(logits, y, ce) +
             (1 - lam) * torch::nn::functional::cross_entropy(logits, y.index_select(0, perm), ce);
    } else {
      logits = Forward(x).to(torch::kFloat);
      loss = torch::nn::functional::cross_entropy(logits, y, ce);
    }
    at::autocast::set_enabled(false);
  }
  const double value = loss.item<double>();
  if (!std::isfinite(value)) return value;
  if (!amp_) {
    loss.backward();
    optimizer_->step();
    return value;
  }
  // Dynamic loss scaling for float16 gradients (what GradScaler does in python).
  (loss * loss_scale_).backward();
  bool finite = true;
  for (auto& group : optimizer_->param_groups()) {
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      p.mutable_grad().div_(loss_scale_);
      finite = finite && torch::isfinite(p.grad()).all().item<bool>();
    }
  }
  if (finite) {
    optimizer_->step();
  } else {
    loss_scale_ = std::max(1.0, loss_scale_ / 2);
  }
  return value;
}

void Execution::EvalBatch(const torch::Tensor& inputs, const torch::Tensor& labels,
                          double* loss_sum, int64_t* correct) {
  torch::NoGradGuard no_grad;
  at::autocast::set_enabled(amp_);
  torch::Tensor logits = Forward(inputs.to(device_)).to(torch::kFloat);
  at::autocast::set_enabled(false);
  torch::Tensor y = labels.to(device_);
  *loss_sum += torch::nn::functional::cross_entropy(
                   logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .item<double>();
  *correct += logits.argmax(1).eq(y).sum().item<int64_t>();
}

torch::Tensor Execution::Predict(const torch::Tensor& inputs) {
  torch::NoGradGuard no_grad;
  at::autocast::set_enabled(amp_);
  torch::Tensor logits = Forward(inputs.to(device_)).to(torch::kFloat);
  at::autocast::set_enabled(false);
  return logits.to(torch::kCPU);
}

std::vector<torch::Tensor> Execution::TrainableState() {
  std::vector<torch::Tensor> out;
  for (auto& t : head_->parameters()) out.push_back(t);
  for (auto& t : head_->buffers()) out.push_back(t);
  if (backbone_) {
    for (auto& t : backbone_->parameters()) out.push_back(t);
    for (auto& t : backbone_->buffers()) out.push_back(t);
  }
  return out;
}

std::vector<torch::Tensor> Execution::CopyOfTrainableState() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& t : TrainableState()) out.push_back(t.detach().clone());
  return out;
}

void Execution::EndEpoch(int epoch, double value, const std::map<std::string, double>& metrics) {
  epochs_done_ = epoch;
  last_ = Snapshot{epoch, value, metrics, {}};
  if (plateau_) {
    const double lr = plateau_->Update(metrics.at(config_.reduce_lr_monitor.metric), lr_);
    plateau_factor_ = lr / std::max(1e-300, group_base_lr_[0]);
  }
  // One copy of the weights serves both snapshots when they improve in the same epoch.
  std::vector<torch::Tensor> weights;
  const auto weights_now = [&] {
    if (weights.empty()) weights = CopyOfTrainableState();
    return weights;
  };
  if (best_.epoch == 0 || Better(value, best_.value)) {
    best_ = Snapshot{epoch, value, metrics, reduce_last_ ? std::vector<torch::Tensor>{}
                                                         : weights_now()};
  }
  if (early_stopping_) {
    const EarlyStopping::Step step =
        early_stopping_->Update(epoch, metrics.at(config_.early_stopping_monitor.metric));
    if (step.improved) {
      monitor_best_ = Snapshot{epoch, value, metrics,
                               config_.restore_best ? weights_now() : std::vector<torch::Tensor>{}};
    }
    if (step.stop) {
      done_ = true;
      if (config_.restore_best && !monitor_best_.weights.empty() && monitor_best_.epoch != epoch) {
        torch::NoGradGuard no_grad;
        std::vector<torch::Tensor> state = TrainableState();
        for (size_t i = 0; i < state.size(); ++i) state[i].copy_(monitor_best_.weights[i]);
      }
    }
  }
}

const Execution::Snapshot& Execution::Reported() const {
  if (!reduce_last_) return best_;
  if (early_stopping_ && config_.restore_best && monitor_best_.epoch > 0) return monitor_best_;
  return last_;
}

void Execution::UseReportedWeights() {
  const Snapshot& reported = Reported();
  if (reported.weights.empty()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> state = TrainableState();
  for (size_t i = 0; i < state.size(); ++i) state[i].copy_(reported.weights[i]);
}

nlohmann::json Execution::SnapshotJson(const Snapshot& snapshot) {
  return {{"epoch", snapshot.epoch},
          {"value", snapshot.value},
          {"metrics", snapshot.metrics},
          {"weights", !snapshot.weights.empty()}};
}

void Execution::Save(torch::serialize::OutputArchive& archive) {
  const nlohmann::json state = {
      {"lr", lr_},
      {"plateau_factor", plateau_factor_},
      {"early_stopping", early_stopping_ ? early_stopping_->ToJson() : nlohmann::json()},
      {"plateau", plateau_ ? plateau_->ToJson() : nlohmann::json()},
      {"done", done_},
      {"epochs_done", epochs_done_},
      {"loss_scale", loss_scale_},
      {"last", SnapshotJson(last_)},
      {"best", SnapshotJson(best_)},
      {"monitor_best", SnapshotJson(monitor_best_)},
      {"has_backbone", backbone_ != nullptr}};
  archive.write("state", c10::IValue(state.dump()));
  torch::serialize::OutputArchive head, optimizer;
  head_->save(head);
  archive.write("head", head);
  if (backbone_) {
    torch::serialize::OutputArchive backbone;
    backbone_->save(backbone);
    archive.write("backbone", backbone);
  }
  optimizer_->save(optimizer);
  archive.write("optimizer", optimizer);
  for (const auto& [name, snapshot] : {std::pair<const char*, const Snapshot*>{"best", &best_},
                                       {"monitor_best", &monitor_best_}}) {
    torch::serialize::OutputArchive weights;
    for (size_t i = 0; i < snapshot->weights.size(); ++i) {
      weights.write(std::to_string(i), snapshot->weights[i]);
    }
    archive.write(name, weights);
  }
}

absl::Status Execution::Load(torch::serialize::InputArchive& archive) {
  try {
    c10::IValue text;
    archive.read("state", text);
    const nlohmann::json state = nlohmann::json::parse(text.toStringRef());
    if (state.at("has_backbone").get<bool>() != (backbone_ != nullptr)) {
      return absl::FailedPreconditionError(
          "resume checkpoint: its backbone was trained differently (freeze / unfreeze_stages "
          "changed?)");
    }
    torch::serialize::InputArchive head, optimizer;
    archive.read("head", head);
    head_->load(head);
    if (backbone_) {
      torch::serialize::InputArchive backbone;
      archive.read("backbone", backbone);
      backbone_->load(backbone);
    }
    archive.read("optimizer", optimizer);
    optimizer_->load(optimizer);
    head_->to(device_);
    if (backbone_) backbone_->to(device_);
    lr_ = state.at("lr").get<double>();
    plateau_factor_ = state.at("plateau_factor").get<double>();
    if (early_stopping_) {
      if (absl::Status s = early_stopping_->FromJson(state.at("early_stopping")); !s.ok()) return s;
    }
    if (plateau_) {
      if (absl::Status s = plateau_->FromJson(state.at("plateau")); !s.ok()) return s;
    }
    done_ = state.at("done").get<bool>();
    epochs_done_ = state.at("epochs_done").get<int>();
    loss_scale_ = state.at("loss_scale").get<double>();
    const size_t n = TrainableState().size();
    for (const auto& [name, snapshot] : {std::pair<const char*, Snapshot*>{"last", &last_},
                                         {"best", &best_},
                                         {"monitor_best", &monitor_best_}}) {
      const nlohmann::json& meta = state.at(name);
      snapshot->epoch = meta.at("epoch").get<int>();
      snapshot->value = meta.at("value").get<double>();
      snapshot->metrics = meta.at("metrics").get<std::map<std::string, double>>();
      snapshot->weights.clear();
      if (!meta.at("weights").get<bool>()) continue;
      torch::serialize::InputArchive weights;
      archive.read(name, weights);
      for (size_t i = 0; i < n; ++i) {
        torch::Tensor t;
        weights.read(std::to_string(i), t);
        snapshot->weights.push_back(t.to(device_));
      }
    }
  } catch (const c10::Error& e) {
    return absl::FailedPreconditionError(absl::StrCat(
        "resume checkpoint does not fit this trial: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("resume checkpoint does not fit this trial: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace tuner::worker::torchtrainer
