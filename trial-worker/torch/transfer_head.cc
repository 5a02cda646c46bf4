#include "trial-worker/torch/transfer_head.h"

namespace tuner::worker::torchtrainer {

TransferHeadImpl::TransferHeadImpl(int64_t in_features, int64_t units, double dropout_p,
                                   int64_t classes) {
  fc1 = register_module("fc1", torch::nn::Linear(in_features, units));
  dropout = register_module("dropout", torch::nn::Dropout(dropout_p));
  fc2 = register_module("fc2", torch::nn::Linear(units, classes));
}

torch::Tensor TransferHeadImpl::forward(const torch::Tensor& features) {
  return fc2(dropout(torch::relu(fc1(features))));
}

}  // namespace tuner::worker::torchtrainer
