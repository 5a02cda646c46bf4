#include "trial-worker/training/keras_callbacks.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tuner::worker {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The best before any epoch: nothing beats it in the watched direction.
double InitialBest(MonitorMode mode) { return mode == MonitorMode::kMin ? kInf : -kInf; }

// JSON has no infinities: the initial best (+-inf) is written as null.
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

absl::Status ReadState(const nlohmann::json& state, double initial_best, double* best, int* wait,
                       int* third, const char* third_key) {
  try {
    const nlohmann::json& b = state.at("best");
    *best = b.is_null() ? initial_best : b.get<double>();
    *wait = state.at("wait").get<int>();
    *third = state.at(third_key).get<int>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(std::string("callback state: ") + e.what());
  }
  return absl::OkStatus();
}

}  // namespace

MonitorMode ResolveMonitorMode(const std::string& metric, const std::string& mode) {
  if (mode == "min") return MonitorMode::kMin;
  if (mode == "max") return MonitorMode::kMax;
  return metric.find("acc") != std::string::npos ? MonitorMode::kMax : MonitorMode::kMin;
}

EarlyStopping::EarlyStopping(const MonitorConfig& monitor, int patience, int start_from_epoch)
    : mode_(ResolveMonitorMode(monitor.metric, monitor.mode)),
      min_delta_(std::fabs(monitor.min_delta)),
      patience_(patience),
      start_from_epoch_(start_from_epoch),
      best_(InitialBest(mode_)) {}

bool EarlyStopping::Improves(double value, double reference) const {
  return mode_ == MonitorMode::kMin ? value + min_delta_ < reference
                                    : value - min_delta_ > reference;
}

EarlyStopping::Step EarlyStopping::Update(int epoch, double value) {
  Step step;
  if (epoch <= start_from_epoch_) return step;
  // Keras keeps the first watched epoch's weights even when it does not improve (a NaN).
  if (best_epoch_ == 0) {
    best_epoch_ = epoch;
    step.improved = true;
  }
  ++wait_;
  if (Improves(value, best_)) {
    best_ = value;
    best_epoch_ = epoch;
    wait_ = 0;
    step.improved = true;
    return step;
  }
  step.stop = wait_ >= patience_ && epoch > 1;
  return step;
}

nlohmann::json EarlyStopping::ToJson() const {
  return {{"best", Number(best_)}, {"wait", wait_}, {"best_epoch", best_epoch_}};
}

absl::Status EarlyStopping::FromJson(const nlohmann::json& state) {
  return ReadState(state, InitialBest(mode_), &best_, &wait_,
                   &best_epoch_, "best_epoch");
}

ReduceLrOnPlateau::ReduceLrOnPlateau(const MonitorConfig& monitor, double factor, int patience,
                                     int cooldown, double min_lr)
    : mode_(ResolveMonitorMode(monitor.metric, monitor.mode)),
      min_delta_(monitor.min_delta),
      factor_(factor),
      patience_(patience),
      cooldown_(cooldown),
      min_lr_(min_lr),
      best_(InitialBest(mode_)) {}

double ReduceLrOnPlateau::Update(double value, double lr) {
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  const bool improved =
      mode_ == MonitorMode::kMin ? value < best_ - min_delta_ : value > best_ + min_delta_;
  if (improved) {
    best_ = value;
    wait_ = 0;
    return lr;
  }
  if (cooldown_counter_ > 0) return lr;
  if (++wait_ < patience_) return lr;
  // Keras compares with min_lr in float32 (the optimizer's variable).
  if (!(lr > static_cast<double>(static_cast<float>(min_lr_)))) return lr;
  cooldown_counter_ = cooldown_;
  wait_ = 0;
  return std::max(lr * factor_, min_lr_);
}

nlohmann::json ReduceLrOnPlateau::ToJson() const {
  return {{"best", Number(best_)}, {"wait", wait_}, {"cooldown_counter", cooldown_counter_}};
}

absl::Status ReduceLrOnPlateau::FromJson(const nlohmann::json& state) {
  return ReadState(state, InitialBest(mode_), &best_, &wait_,
                   &cooldown_counter_, "cooldown_counter");
}

}  // namespace tuner::worker
