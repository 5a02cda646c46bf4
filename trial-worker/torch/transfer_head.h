// The transfer head of the seed study: (global average pool, done by the backbone's
// Features) -> Linear(units) -> ReLU -> Dropout(p) -> Linear(classes).
#ifndef TUNER_TRIAL_WORKER_TORCH_TRANSFER_HEAD_H_
#define TUNER_TRIAL_WORKER_TORCH_TRANSFER_HEAD_H_

#include <torch/torch.h>

namespace tuner::worker::torchtrainer {

class TransferHeadImpl : public torch::nn::Module {
 public:
  TransferHeadImpl(int64_t in_features, int64_t units, double dropout, int64_t classes);
  torch::Tensor forward(const torch::Tensor& features);

 private:
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(TransferHead);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_TRANSFER_HEAD_H_
