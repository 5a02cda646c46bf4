// The transfer head of the seed study: (global average pool, done by the backbone's
// Features) -> Linear(units) -> ReLU -> Dropout(p) -> Linear(classes).
#ifndef TUNER_TRIAL_WORKER_TORCH_TRANSFER_HEAD_H_
#define TUNER_TRIAL_WORKER_TORCH_TRANSFER_HEAD_H_

#include <torch/torch.h>

namespace tuner::worker::torchtrainer {

class TransferHeadImpl : public torch::nn::Module {
 public:
  TransferHeadImpl(int64_t in_features, int64_t units, double dropout, int64_t classes);
  // With `dropout_generator`, dropout draws its mask from it (each execution its own, so
  // executions can train on separate threads reproducibly); else from torch's global one.
  // Either way the draws and the arithmetic are torch's dropout's.
  torch::Tensor forward(const torch::Tensor& features, at::Generator* dropout_generator = nullptr);

 private:
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(TransferHead);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_TRANSFER_HEAD_H_
