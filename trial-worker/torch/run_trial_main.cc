// torch-trial: runs one torch trainer trial without a server and prints each epoch's report
// as a JSON line. For measuring (docs/trainer.md's figures) and for checking a trainer
// section before starting a study.
//   torch-trial CONFIG.json [--epochs N] [--params JSON] [--executions N] [--seed S]
//               [--threads T] [--device cpu|cuda:N] [--cache-dir DIR]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "nlohmann/json.hpp"
#include "trial-worker/torch/torch_trainer.h"

namespace {

class PrintingContext final : public tuner::worker::TrialContext {
 public:
  bool ReportEpoch(const tuner::worker::EpochReport& report) override {
    nlohmann::json line = {{"execution", report.execution}, {"epoch", report.epoch},
                           {"value", report.value}, {"metrics", report.metrics}};
    std::cout << line.dump() << std::endl;
    return true;
  }
  bool StopRequested() const override { return false; }
};

int Usage() {
  std::cerr << "usage: torch-trial CONFIG.json [--epochs N] [--params JSON] [--executions N]\n"
               "                   [--seed S] [--threads T] [--device D] [--cache-dir DIR]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  tuner::worker::TrialAssignment a;
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "torch-trial: cannot open " << argv[1] << "\n";
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  a.trainer_config = nlohmann::json::parse(text.str(), nullptr, false);
  if (a.trainer_config.is_discarded()) {
    std::cerr << "torch-trial: " << argv[1] << " is not JSON\n";
    return 1;
  }
  if (a.trainer_config.contains("trainer")) a.trainer_config = a.trainer_config["trainer"];
  a.budget_epochs = a.trainer_config.value("epochs", 1);
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--epochs") {
      a.budget_epochs = std::atoi(value.c_str());
    } else if (flag == "--executions") {
      a.executions = std::atoi(value.c_str());
    } else if (flag == "--seed") {
      a.seed = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--threads") {
      a.threads = std::atoi(value.c_str());
    } else if (flag == "--device") {
      a.device = value;
    } else if (flag == "--cache-dir") {
      a.cache_dir = value;
    } else if (flag == "--params") {
      const nlohmann::json params = nlohmann::json::parse(value, nullptr, false);
      if (!params.is_object()) return Usage();
      for (const auto& item : params.items()) {
        if (item.value().is_number_integer()) {
          a.params[item.key()] = item.value().get<int64_t>();
        } else if (item.value().is_number()) {
          a.params[item.key()] = item.value().get<double>();
        } else {
          a.params[item.key()] = item.value().get<std::string>();
        }
      }
    } else {
      return Usage();
    }
  }
  PrintingContext context;
  const auto start = std::chrono::steady_clock::now();
  auto result = tuner::worker::MakeTorchTrainer()->Train(a, context);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.ok()) {
    std::cerr << "torch-trial: " << result.status() << "\n";
    return 1;
  }
  std::cout << nlohmann::json({{"result", result->value},
                               {"epochs_done", result->epochs_done},
                               {"metrics", result->metrics},
                               {"seconds", seconds}})
                   .dump()
            << std::endl;
  return 0;
}
