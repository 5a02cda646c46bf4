#include "trial-worker/torch/transfer_head.h"

namespace tuner::worker::torchtrainer {

TransferHeadImpl::TransferHeadImpl(int64_t in_features, int64_t units, double dropout_p,
                                   int64_t classes) {
  fc1 = register_module("fc1", torch::nn::Linear(in_features, units));
  dropout = register_module("dropout", torch::nn::Dropout(dropout_p));
  fc2 = register_module("fc2", torch::nn::Linear(units, classes));
}

torch::Tensor TransferHeadImpl::forward(const torch::Tensor& features,
                                        at::Generator* dropout_generator) {
  torch::Tensor hidden = torch::relu(fc1(features));
  const double p = dropout->options.p();
  if (dropout_generator == nullptr || !is_training() || p == 0) return fc2(dropout(hidden));
  if (p == 1) return fc2(hidden * torch::zeros({}, hidden.options()));
  // torch's _dropout_impl: a Bernoulli(1 - p) mask, divided by 1 - p, times the input.
  torch::Tensor noise = torch::empty_like(hidden).bernoulli_(1 - p, *dropout_generator);
  noise.div_(1 - p);
  return fc2(hidden * noise);
}

}  // namespace tuner::worker::torchtrainer
