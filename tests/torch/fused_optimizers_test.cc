// The fused optimizer steps against libtorch's own Adam, RMSprop and SGD in the same run: the
// same parameters, gradients and learning-rate changes give the same parameters and the same
// optimizer state to float rounding, and a state saved by one optimizer continues in the other.
#include "trial-worker/torch/fused_optimizers.h"

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace tuner::worker::torchtrainer {
namespace {

// A weight big enough to be split across threads (> 65,536 floats), a bias, a small matrix in
// a second group with its own learning rate.
std::vector<torch::Tensor> MakeParams() {
  torch::manual_seed(11);
  return {torch::randn({300, 700}).requires_grad_(), torch::randn({7}).requires_grad_(),
          torch::randn({20, 3}).requires_grad_()};
}

std::vector<torch::optim::OptimizerParamGroup> Groups(
    const std::vector<torch::Tensor>& params,
    const std::function<std::unique_ptr<torch::optim::OptimizerOptions>(double)>& options) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{params[0], params[1]}, options(1e-2));
  groups.emplace_back(std::vector<torch::Tensor>{params[2]}, options(3e-3));
  return groups;
}

// Runs `steps` steps with gradients drawn from a fixed stream; halves every group's learning
// rate after step 10 (a schedule's change). The third param gets no gradient on odd steps.
void Run(torch::optim::Optimizer& optimizer, const std::vector<torch::Tensor>& params, int from,
         int steps) {
  for (int s = from; s < from + steps; ++s) {
    torch::manual_seed(1000 + s);
    for (size_t i = 0; i < params.size(); ++i) {
      auto& grad = params[i].mutable_grad();
      if (i == 2 && s % 2 == 1) {
        grad = torch::Tensor();
        continue;
      }
      grad = torch::randn_like(params[i]) * (1.0 + 0.1 * s);
    }
    if (s == 10) {
      for (auto& group : optimizer.param_groups()) {
        group.options().set_lr(group.options().get_lr() * 0.5);
      }
    }
    optimizer.step();
  }
}

void ExpectClose(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max(1.0, a[i].abs().max().item<double>());
    const double diff = (a[i] - b[i]).abs().max().item<double>();
    EXPECT_LT(diff, 2e-5 * scale) << what << " tensor " << i;
    EXPECT_GT(a[i].sub(MakeParams()[i]).abs().max().item<double>(), 1e-4)
        << what << " tensor " << i << " did not move";
  }
}

std::vector<torch::Tensor> Detached(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}

template <typename Options>
std::function<std::unique_ptr<torch::optim::OptimizerOptions>(double)> WithLr(Options base) {
  return [base](double lr) {
    auto options = std::make_unique<Options>(base);
    options->lr(lr);
    return std::unique_ptr<torch::optim::OptimizerOptions>(std::move(options));
  };
}

template <typename Reference, typename Fused, typename Options>
void Compare(const std::string& name, Options options) {
  SCOPED_TRACE(name);
  const auto group_options = WithLr(options);
  const std::vector<torch::Tensor> ref_params = MakeParams(), fused_params = MakeParams();
  Reference reference(Groups(ref_params, group_options), options);
  Fused fused(Groups(fused_params, group_options), options);
  Run(reference, ref_params, 0, 25);
  Run(fused, fused_params, 0, 25);
  ExpectClose(Detached(ref_params), Detached(fused_params), name + " params");

  // The state is torch's: what the fused optimizer saved, torch's loads and continues from,
  // and the other way round.
  std::stringstream fused_state, ref_state;
  {
    torch::serialize::OutputArchive archive;
    fused.save(archive);
    archive.save_to(fused_state);
    torch::serialize::OutputArchive other;
    reference.save(other);
    other.save_to(ref_state);
  }
  const std::vector<torch::Tensor> a = Detached(fused_params), b = Detached(ref_params);
  std::vector<torch::Tensor> a_params, b_params;
  for (const auto& t : a) a_params.push_back(t.clone().requires_grad_());
  for (const auto& t : b) b_params.push_back(t.clone().requires_grad_());
  Reference continued_by_torch(Groups(a_params, group_options), options);
  Fused continued_fused(Groups(b_params, group_options), options);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(fused_state);
    continued_by_torch.load(archive);
    torch::serialize::InputArchive other;
    other.load_from(ref_state);
    continued_fused.load(other);
  }
  // torch's load keeps the constructor's learning rates (the trainer sets the rate every
  // epoch): carry the halved ones over by hand.
  for (torch::optim::Optimizer* continued :
       std::initializer_list<torch::optim::Optimizer*>{&continued_by_torch, &continued_fused}) {
    for (size_t g = 0; g < reference.param_groups().size(); ++g) {
      continued->param_groups()[g].options().set_lr(reference.param_groups()[g].options().get_lr());
    }
  }
  Run(continued_by_torch, a_params, 25, 10);
  Run(continued_fused, b_params, 25, 10);
  Run(reference, ref_params, 25, 10);
  ExpectClose(Detached(ref_params), Detached(a_params), name + " continued by torch");
  ExpectClose(Detached(ref_params), Detached(b_params), name + " continued fused");
}

TEST(FusedOptimizers, AdamMatchesTorch) {
  Compare<torch::optim::Adam, FusedAdam>("adam", torch::optim::AdamOptions(1e-3).eps(1e-7));
  Compare<torch::optim::Adam, FusedAdam>(
      "adam wd", torch::optim::AdamOptions(1e-3).eps(1e-7).weight_decay(1e-2).betas({0.8, 0.99}));
}

TEST(FusedOptimizers, RmspropMatchesTorch) {
  Compare<torch::optim::RMSprop, FusedRMSprop>("rmsprop",
                                               torch::optim::RMSpropOptions(1e-3).alpha(0.9).eps(1e-7));
  Compare<torch::optim::RMSprop, FusedRMSprop>(
      "rmsprop momentum wd",
      torch::optim::RMSpropOptions(1e-3).alpha(0.9).eps(1e-7).momentum(0.9).weight_decay(1e-3));
}

TEST(FusedOptimizers, SgdMatchesTorch) {
  Compare<torch::optim::SGD, FusedSGD>("sgd", torch::optim::SGDOptions(1e-2));
  Compare<torch::optim::SGD, FusedSGD>(
      "sgd nesterov wd",
      torch::optim::SGDOptions(1e-2).momentum(0.9).nesterov(true).weight_decay(5e-4));
  Compare<torch::optim::SGD, FusedSGD>(
      "sgd dampening", torch::optim::SGDOptions(1e-2).momentum(0.9).dampening(0.1));
}

// What the fused loops do not take (a non-contiguous parameter; amsgrad) runs torch's own
// step: the results are then exactly torch's.
TEST(FusedOptimizers, UnfusibleParametersTakeTorchsStepExactly) {
  torch::manual_seed(3);
  const torch::Tensor base = torch::randn({40, 30});
  torch::Tensor ref = base.t().detach().requires_grad_();
  torch::Tensor fused = base.t().detach().requires_grad_();
  ASSERT_FALSE(fused.is_contiguous());
  torch::optim::Adam reference({ref}, torch::optim::AdamOptions(1e-2));
  FusedAdam fused_opt({fused}, torch::optim::AdamOptions(1e-2));
  for (int s = 0; s < 5; ++s) {
    torch::manual_seed(50 + s);
    const torch::Tensor grad = torch::randn({30, 40});
    ref.mutable_grad() = grad.clone();
    fused.mutable_grad() = grad.clone();
    reference.step();
    fused_opt.step();
  }
  EXPECT_TRUE(torch::equal(ref.detach(), fused.detach()));
  EXPECT_FALSE(FusibleParameter(fused));

  torch::Tensor p = torch::randn({5}).requires_grad_();
  p.mutable_grad() = torch::ones({5});
  EXPECT_TRUE(FusibleParameter(p));
  torch::Tensor q = torch::randn({5}).requires_grad_();
  torch::Tensor q_ref = q.detach().clone().requires_grad_();
  q.mutable_grad() = torch::ones({5});
  q_ref.mutable_grad() = torch::ones({5});
  FusedAdam amsgrad({q}, torch::optim::AdamOptions(1e-2).amsgrad(true));
  torch::optim::Adam amsgrad_ref({q_ref}, torch::optim::AdamOptions(1e-2).amsgrad(true));
  amsgrad.step();
  amsgrad_ref.step();
  EXPECT_TRUE(torch::equal(q.detach(), q_ref.detach()));
}

}  // namespace
}  // namespace tuner::worker::torchtrainer
