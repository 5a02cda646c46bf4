// Shared set-up for the torch trainer tests: a tiny CIFAR-10 directory and an assignment.
#ifndef TUNER_TESTS_TORCH_TRAINER_TEST_UTIL_H_
#define TUNER_TESTS_TORCH_TRAINER_TEST_UTIL_H_

#include <string>

#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"
#include "tests/torch/tiny_datasets.h"
#include "trial-worker/trainer.h"

namespace tuner::testing {

// 200 training images (160 train / 40 validation), lenet5, adam; epochs 1..budget.
inline worker::TrialAssignment TinyAssignment(const std::string& data_dir, int budget) {
  worker::TrialAssignment a;
  a.trial_id = 7;
  a.seed = 11;
  a.budget_epochs = budget;
  a.threads = 2;
  a.params = {{"units", int64_t{32}}, {"dropout", 0.2}, {"learning_rate", 3e-3},
              {"optimizer", std::string("adam")}};
  a.trainer_config = {
      {"kind", "torch"},
      {"dataset", {{"name", "cifar10"}, {"path", data_dir}, {"val_fraction", 0.2}}},
      {"backbone", {{"name", "lenet5"}}},
      {"batch_size", 32}};
  return a;
}

}  // namespace tuner::testing

#endif  // TUNER_TESTS_TORCH_TRAINER_TEST_UTIL_H_
