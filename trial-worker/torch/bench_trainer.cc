// bench-trainer: images/s of the trainer's building blocks, for bench/run's trainer table. The
// python twin is bench/trainer_peer.py; both print one JSON object with the same keys so the
// ratios are computed on equal work:
//   full_train    ResNet50 + transfer head, train mode, SGD (momentum 0.9), one step a batch
//   frozen_train  backbone forward without grad (eval mode) + head step (Adam)
//   forward       backbone forward without grad (eval mode): what the feature cache computes
//   loader        the batch loader alone over Fashion-MNIST (gray -> 3 ch, resize, normalise),
//                 with and without the seed study's augmentation (rotation 15, shift 0.1, flip)
//
//   bench-trainer [--threads 2] [--batch 32] [--size 32] [--steps 6] [--dataset DIR]
//   bench-trainer --backbones all|NAME,NAME [--threads 2] [--batch 32] [--size 32]
//                 only `forward` of each backbone (docs/trainer.md's zoo table), by name
// Torch stays inside trial-worker/torch; bench/ only runs this binary.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

#include <torch/torch.h>

#include "nlohmann/json.hpp"
#include "trial-worker/torch/batch_loader.h"
#include "absl/strings/str_split.h"
#include "trial-worker/torch/backbone.h"
#include "trial-worker/torch/batch_transform.h"
#include "trial-worker/torch/datasets.h"
#include "trial-worker/torch/resnet.h"
#include "trial-worker/training/torch_config.h"
#include "trial-worker/torch/transfer_head.h"

namespace {

namespace tt = tuner::worker::torchtrainer;
using Clock = std::chrono::steady_clock;

struct Options {
  int threads = 2;
  int64_t batch = 32;
  int64_t size = 32;
  int steps = 6;
  std::string dataset = "/usr/share/datasets/fashion-mnist";
  std::string backbones;  // non-empty: the per-backbone forward only
};

// Images per second of `step` (one batch each) from the fastest of `steps` steps after one
// warm-up call: the fastest, not the mean, because the bench box is shared and a neighbour's
// burst stalls single steps; the python twin does the same.
double Rate(int64_t batch, int steps, const std::function<void()>& step) {
  step();
  double fastest = 1e30;
  for (int i = 0; i < steps; ++i) {
    const auto start = Clock::now();
    step();
    fastest = std::min(fastest, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return batch / fastest;
}

// Loader images/s over the first `images` training images, one full pass.
double LoaderRate(const tt::ImageSet& set, int64_t batch, int64_t size, bool augment) {
  tt::AugmentConfig config;
  if (augment) {
    config.rotation = 15;
    config.shift = 0.1;
    config.hflip = true;
  }
  tt::BatchTransform transform(config, size);
  torch::Tensor order = torch::randperm(set.size(), torch::kLong);
  const auto start = Clock::now();
  tt::BatchLoader loader(set, order, batch, transform, augment, /*seed=*/1);
  int64_t seen = 0;
  while (auto b = loader.Next()) seen += b->labels.size(0);
  return seen / std::chrono::duration<double>(Clock::now() - start).count();
}

int Usage() {
  std::cerr << "usage: bench-trainer [--threads T] [--batch B] [--size PX] [--steps N] "
               "[--dataset DIR] [--backbones all|NAME,NAME]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") o.threads = std::atoi(value.c_str());
    else if (flag == "--batch") o.batch = std::atoll(value.c_str());
    else if (flag == "--size") o.size = std::atoll(value.c_str());
    else if (flag == "--steps") o.steps = std::atoi(value.c_str());
    else if (flag == "--dataset") o.dataset = value;
    else if (flag == "--backbones") o.backbones = value;
    else return Usage();
  }
  if (argc % 2 == 0 || o.threads < 1 || o.batch < 1 || o.size < 16 || o.steps < 1) return Usage();
  torch::set_num_threads(o.threads);
  torch::manual_seed(0);

  if (!o.backbones.empty()) {
    std::vector<std::string> names;
    if (o.backbones == "all") {
      for (const tt::BackboneInfo& info : tt::TorchBackbones()) names.push_back(info.name);
    } else {
      names = absl::StrSplit(o.backbones, ',');
    }
    nlohmann::json forward = nlohmann::json::object();
    for (const std::string& name : names) {
      auto backbone = tt::MakeBackbone(name, o.size);
      if (!backbone.ok()) {
        std::cerr << "bench-trainer: " << backbone.status() << "\n";
        return 1;
      }
      (*backbone)->eval();
      const torch::Tensor images = torch::randn({o.batch, 3, o.size, o.size});
      forward[name] = Rate(o.batch, o.steps, [&] {
        torch::NoGradGuard no_grad;
        (*backbone)->Features(images);
      });
    }
    std::cout << nlohmann::json({{"side", "c++"}, {"threads", torch::get_num_threads()},
                                 {"batch", o.batch}, {"size", o.size}, {"forward", forward}})
                     .dump()
              << std::endl;
    return 0;
  }

  tt::ResNet backbone(tt::ResNet50Options(/*num_classes=*/0));
  tt::TransferHead head(backbone->feature_dim(), 256, 0.3, 10);
  const torch::Tensor x = torch::randn({o.batch, 3, o.size, o.size});
  const torch::Tensor y = torch::randint(0, 10, {o.batch}, torch::kLong);
  nlohmann::json out = {{"side", "c++"}, {"threads", torch::get_num_threads()},
                        {"batch", o.batch}, {"size", o.size}};

  // Frozen backbone: eval-mode forward without grad, head trains.
  backbone->eval();
  head->train();
  torch::optim::Adam head_opt(head->parameters(), torch::optim::AdamOptions(1e-3));
  out["frozen_train"] = Rate(o.batch, o.steps, [&] {
    torch::Tensor features;
    {
      torch::NoGradGuard no_grad;
      features = backbone->Features(x);
    }
    torch::Tensor loss = torch::nn::functional::cross_entropy(head->forward(features), y);
    head_opt.zero_grad();
    loss.backward();
    head_opt.step();
  });
  out["forward"] = Rate(o.batch, o.steps, [&] {
    torch::NoGradGuard no_grad;
    backbone->Features(x);
  });

  // Full training: every parameter, train-mode batch norm.
  backbone->train();
  std::vector<torch::Tensor> params = backbone->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::SGD full_opt(params, torch::optim::SGDOptions(0.01).momentum(0.9));
  out["full_train"] = Rate(o.batch, std::max(1, o.steps / 2), [&] {
    torch::Tensor loss = torch::nn::functional::cross_entropy(head->forward(backbone->Features(x)), y);
    full_opt.zero_grad();
    loss.backward();
    full_opt.step();
  });

  tt::DatasetConfig data;
  data.name = "fashion_mnist";
  data.path = o.dataset;
  data.limit_train = 8192;
  auto splits = tt::LoadSplits(data);
  if (splits.ok()) {
    out["loader"] = LoaderRate(splits->train, o.batch, o.size, /*augment=*/false);
    out["loader_augmented"] = LoaderRate(splits->train, o.batch, o.size, /*augment=*/true);
  } else {
    std::cerr << "bench-trainer: loader skipped: " << splits.status() << "\n";
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
