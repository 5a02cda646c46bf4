#include "trial-worker/torch/fused_optimizers.h"

#include <ATen/Parallel.h>
#include <c10/util/string_utils.h>

#include <cmath>
#include <cstdint>

namespace tuner::worker::torchtrainer {
namespace {

// Elements per parallel chunk: below this a parameter is updated on the calling thread (the
// head's bias and the classifier layer), above it the pass is split across torch's pool.
constexpr int64_t kGrain = int64_t{1} << 16;

// The key torch::optim uses for a parameter's state (Optimizer::state_).
std::string StateKey(const torch::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}

template <typename F>
void ForChunks(int64_t n, F&& body) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) { body(begin, end); });
}

// Every parameter with a gradient in every group is fusible (else the caller falls back to
// the base class for the whole step, so a step never mixes the two paths).
bool AllFusible(const std::vector<torch::optim::OptimizerParamGroup>& groups) {
  for (const auto& group : groups) {
    for (const auto& p : group.params()) {
      if (p.grad().defined() && !FusibleParameter(p)) return false;
    }
  }
  return true;
}

// Whether any group's options ask for what the fused loops leave to torch (amsgrad, centered).
template <typename Options, typename Flag>
bool AnyGroup(const std::vector<torch::optim::OptimizerParamGroup>& groups, Flag flag) {
  for (const auto& group : groups) {
    if (flag(static_cast<const Options&>(group.options()))) return true;
  }
  return false;
}

// The closure's loss, evaluated with grad on as torch's step() does.
torch::Tensor EvaluateClosure(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

// `p`'s state in the optimizer's map, created by `make` on its first step.
template <typename State, typename Map, typename Make>
State& StateOf(Map& state, const torch::Tensor& p, Make make) {
  const std::string key = StateKey(p);
  auto found = state.find(key);
  if (found == state.end()) found = state.emplace(key, make()).first;
  return static_cast<State&>(*found->second);
}

}  // namespace

bool FusibleParameter(const torch::Tensor& p) {
  const torch::Tensor& g = p.grad();
  return p.device().is_cpu() && p.scalar_type() == torch::kFloat && p.is_contiguous() &&
         !p.is_sparse() && g.defined() && g.device().is_cpu() &&
         g.scalar_type() == torch::kFloat && g.is_contiguous() && !g.is_sparse() &&
         g.numel() == p.numel();
}

torch::Tensor FusedAdam::step(LossClosure closure) {
  const auto amsgrad = [](const torch::optim::AdamOptions& o) { return o.amsgrad(); };
  if (AnyGroup<torch::optim::AdamOptions>(param_groups_, amsgrad) || !AllFusible(param_groups_)) {
    return torch::optim::Adam::step(closure);
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor loss = EvaluateClosure(closure);
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& state = StateOf<torch::optim::AdamParamState>(state_, p, [&] {
        auto made = std::make_unique<torch::optim::AdamParamState>();
        made->step(0);
        made->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        made->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        return made;
      });
      state.step(state.step() + 1);
      const double beta1 = std::get<0>(options.betas());
      const double beta2 = std::get<1>(options.betas());
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(state.step()));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(state.step()));
      // The scalars as torch's float kernels see them.
      const float b1 = static_cast<float>(beta1), one_minus_b1 = static_cast<float>(1 - beta1);
      const float b2 = static_cast<float>(beta2), one_minus_b2 = static_cast<float>(1 - beta2);
      const float wd = static_cast<float>(options.weight_decay());
      const float sqrt_bc2 = static_cast<float>(std::sqrt(bias_correction2));
      const float eps = static_cast<float>(options.eps());
      const float neg_step = static_cast<float>(-(options.lr() / bias_correction1));
      float* param = p.data_ptr<float>();
      const float* grad = p.grad().data_ptr<float>();
      float* m = state.exp_avg().data_ptr<float>();
      float* v = state.exp_avg_sq().data_ptr<float>();
      ForChunks(p.numel(), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const float g = wd != 0 ? grad[i] + wd * param[i] : grad[i];
          m[i] = m[i] * b1 + one_minus_b1 * g;
          v[i] = v[i] * b2 + one_minus_b2 * (g * g);
          const float denom = std::sqrt(v[i]) / sqrt_bc2 + eps;
          param[i] = param[i] + neg_step * m[i] / denom;
        }
      });
    }
  }
  return loss;
}

torch::Tensor FusedRMSprop::step(LossClosure closure) {
  const auto centered = [](const torch::optim::RMSpropOptions& o) { return o.centered(); };
  if (AnyGroup<torch::optim::RMSpropOptions>(param_groups_, centered) ||
      !AllFusible(param_groups_)) {
    return torch::optim::RMSprop::step(closure);
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor loss = EvaluateClosure(closure);
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::RMSpropOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& state = StateOf<torch::optim::RMSpropParamState>(state_, p, [&] {
        auto made = std::make_unique<torch::optim::RMSpropParamState>();
        made->step(0);
        made->square_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        if (options.momentum() > 0) {
          made->momentum_buffer(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        }
        return made;
      });
      state.step(state.step() + 1);
      const float alpha = static_cast<float>(options.alpha());
      const float one_minus_alpha = static_cast<float>(1 - options.alpha());
      const float wd = static_cast<float>(options.weight_decay());
      const float eps = static_cast<float>(options.eps());
      const float neg_lr = static_cast<float>(-options.lr());
      const float momentum = static_cast<float>(options.momentum());
      float* param = p.data_ptr<float>();
      const float* grad = p.grad().data_ptr<float>();
      float* sq = state.square_avg().data_ptr<float>();
      float* buf = options.momentum() > 0 ? state.momentum_buffer().data_ptr<float>() : nullptr;
      ForChunks(p.numel(), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const float g = wd != 0 ? grad[i] + wd * param[i] : grad[i];
          sq[i] = sq[i] * alpha + one_minus_alpha * (g * g);
          const float avg = std::sqrt(sq[i]) + eps;
          if (buf != nullptr) {
            buf[i] = buf[i] * momentum + g / avg;
            param[i] = param[i] + neg_lr * buf[i];
          } else {
            param[i] = param[i] + neg_lr * g / avg;
          }
        }
      });
    }
  }
  return loss;
}

torch::Tensor FusedSGD::step(LossClosure closure) {
  if (!AllFusible(param_groups_)) return torch::optim::SGD::step(closure);
  torch::NoGradGuard no_grad;
  const torch::Tensor loss = EvaluateClosure(closure);
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
    const float wd = static_cast<float>(options.weight_decay());
    const float momentum = static_cast<float>(options.momentum());
    const float one_minus_dampening = static_cast<float>(1 - options.dampening());
    const bool nesterov = options.nesterov();
    const float neg_lr = static_cast<float>(-1 * options.lr());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      float* param = p.data_ptr<float>();
      const float* grad = p.grad().data_ptr<float>();
      if (options.momentum() == 0) {
        ForChunks(p.numel(), [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const float d = wd != 0 ? grad[i] + wd * param[i] : grad[i];
            param[i] = param[i] + neg_lr * d;
          }
        });
        continue;
      }
      const std::string key = StateKey(p);
      auto found = state_.find(key);
      // As torch: the first step's buffer is the (decayed) gradient itself, undampened.
      const bool first = found == state_.end();
      if (first) {
        auto state = std::make_unique<torch::optim::SGDParamState>();
        state->momentum_buffer(torch::empty_like(p, torch::MemoryFormat::Contiguous));
        found = state_.emplace(key, std::move(state)).first;
      }
      float* buf =
          static_cast<torch::optim::SGDParamState&>(*found->second).momentum_buffer().data_ptr<float>();
      ForChunks(p.numel(), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const float d = wd != 0 ? grad[i] + wd * param[i] : grad[i];
          buf[i] = first ? d : buf[i] * momentum + one_minus_dampening * d;
          const float step = nesterov ? d + momentum * buf[i] : buf[i];
          param[i] = param[i] + neg_lr * step;
        }
      });
    }
  }
  return loss;
}

}  // namespace tuner::worker::torchtrainer
