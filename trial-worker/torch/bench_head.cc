// bench-head: the cached head step (issue 14) beside the machine's measured GEMM peak, for
// bench/run section 3. What it times is the trainer's own code: an Execution (transfer head,
// the study's optimizer, dropout) stepping over in-memory features gathered with
// index_select in a shuffled order, as TrialRun does with a warm feature cache. The python
// twin is bench/head_peer.py (same keys).
//
//   bench-head [--threads T] [--batches 64,512] [--train 4096] [--epochs 3] [--units 256]
//              [--optimizer adam]
//
// Prints one JSON object:
//   gemm_gflops          fastest float GEMM of 1024^3 / 2048 x 2048 x 512 (best of 5 each)
//   head_flop_per_image  forward + weight gradients of both layers + the second layer's input
//                        gradient (the first layer's input gradient is never computed: the
//                        features do not require grad)
//   head_b<B>            images/s of the fastest epoch (best of --epochs), batch B
// Torch stays inside trial-worker/torch; bench/ only runs this binary.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "nlohmann/json.hpp"
#include "trial-worker/torch/execution.h"
#include "trial-worker/training/torch_config.h"

namespace {

namespace tt = tuner::worker::torchtrainer;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double GemmGflops() {
  double best = 0;
  for (const auto& [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1024, 1024, 1024},
                                {2048, 2048, 512}}) {
    const torch::Tensor a = torch::randn({m, k}), b = torch::randn({k, n});
    torch::Tensor c = torch::empty({m, n});
    torch::mm_out(c, a, b);  // warm-up
    for (int i = 0; i < 5; ++i) {
      const auto start = Clock::now();
      torch::mm_out(c, a, b);
      best = std::max(best, 2.0 * m * k * n / Seconds(start) / 1e9);
    }
  }
  return best;
}

int Usage() {
  std::cerr << "usage: bench-head [--threads T] [--batches B,B] [--train N] [--epochs E] "
               "[--units U] [--optimizer adam|rmsprop|sgd]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, epochs = 3;
  int64_t train = 4096, units = 256;
  std::string optimizer = "adam";
  std::vector<int64_t> batches = {64, 512};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") {
      threads = std::atoi(value.c_str());
    } else if (flag == "--batches") {
      batches.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) batches.push_back(std::atoll(item.c_str()));
    } else if (flag == "--train") {
      train = std::atoll(value.c_str());
    } else if (flag == "--epochs") {
      epochs = std::atoi(value.c_str());
    } else if (flag == "--units") {
      units = std::atoll(value.c_str());
    } else if (flag == "--optimizer") {
      optimizer = value;
    } else {
      return Usage();
    }
  }
  if (argc % 2 == 0 || threads < 1 || epochs < 1 || train < 1 || units < 1 || batches.empty() ||
      std::any_of(batches.begin(), batches.end(), [](int64_t b) { return b < 1; }) ||
      (optimizer != "adam" && optimizer != "rmsprop" && optimizer != "sgd")) {
    return Usage();
  }
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  constexpr int64_t kFeatures = 2048, kClasses = 10;
  const torch::Tensor features = torch::randn({train, kFeatures});
  const torch::Tensor labels = torch::randint(0, kClasses, {train}, torch::kLong);

  tt::TorchTrainerConfig config;
  config.units = units;
  config.dropout = 0.3;
  config.optimizer = optimizer;
  config.learning_rate = 1e-3;
  tt::ExecutionSetup setup;
  setup.config = &config;
  setup.feature_dim = kFeatures;
  setup.num_classes = kClasses;

  const double layers = static_cast<double>(kFeatures) * units + static_cast<double>(units) * kClasses;
  const double flop_per_image = 2 * layers /*forward*/ + 2 * layers /*weight grads*/ +
                                2.0 * units * kClasses /*second layer's input grad*/;
  nlohmann::json out = {{"side", "c++"},
                        {"threads", torch::get_num_threads()},
                        {"train_images", train},
                        {"units", units},
                        {"optimizer", optimizer},
                        {"head_flop_per_image", flop_per_image},
                        {"gemm_gflops", GemmGflops()}};
  for (const int64_t batch : batches) {
    tt::Execution execution(setup, /*seed=*/1);
    execution.SetTraining(true);
    execution.BeginEpoch(1);
    std::mt19937_64 rng(3);
    double fastest = 1e30;
    for (int e = 0; e <= epochs; ++e) {  // epoch 0 warms up
      const torch::Tensor order = torch::randperm(train, torch::kLong);
      const auto start = Clock::now();
      for (int64_t s = 0; s < train; s += batch) {
        const torch::Tensor idx = order.slice(0, s, std::min(train, s + batch));
        execution.TrainStep(features.index_select(0, idx), labels.index_select(0, idx), rng);
      }
      if (e > 0) fastest = std::min(fastest, Seconds(start));
    }
    out["head_b" + std::to_string(batch)] = train / fastest;
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
