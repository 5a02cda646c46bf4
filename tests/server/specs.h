// Small study specs shared by the server and integration tests.
#ifndef TUNER_TESTS_SERVER_SPECS_H_
#define TUNER_TESTS_SERVER_SPECS_H_

#include <string>

namespace tuner::testing {

inline std::string RandomSpec(int max_trials, int epochs = 3, int max_parallel = 0,
                              int max_attempts = 3) {
  return "name: random-test\n"
         "algorithm: {kind: random, max_trials: " + std::to_string(max_trials) + "}\n"
         "max_parallel: " + std::to_string(max_parallel) + "\n"
         "max_attempts: " + std::to_string(max_attempts) + "\n"
         "seed: 7\n"
         "search_space:\n"
         "  units: {type: choice, values: [128, 256, 512]}\n"
         "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
         "  optimizer: {type: choice, values: [adam, rmsprop]}\n"
         "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}\n"
         "trainer: {kind: synthetic, epochs: " + std::to_string(epochs) + "}\n";
}

inline std::string GridSpec() {
  return "name: grid-test\n"
         "algorithm: {kind: grid}\n"
         "search_space:\n"
         "  units: {type: choice, values: [128, 256, 512]}\n"
         "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
         "  optimizer: {type: choice, values: [adam, rmsprop]}\n"
         "trainer: {kind: synthetic, epochs: 2}\n";
}

inline std::string HyperbandSpec(int max_epochs = 81, int eta = 3) {
  return "name: hyperband-test\n"
         "algorithm: {kind: hyperband, max_epochs: " + std::to_string(max_epochs) +
         ", eta: " + std::to_string(eta) + "}\n"
         "seed: 3\n"
         "search_space:\n"
         "  units: {type: choice, values: [128, 256, 512]}\n"
         "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
         "  optimizer: {type: choice, values: [adam, rmsprop]}\n"
         "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}\n"
         "trainer: {kind: synthetic}\n";
}

inline std::string AshaSpec(int max_trials, int max_epochs = 9, int eta = 3) {
  return "name: asha-test\n"
         "algorithm: {kind: asha, max_trials: " + std::to_string(max_trials) +
         ", max_epochs: " + std::to_string(max_epochs) + ", eta: " + std::to_string(eta) + "}\n"
         "seed: 3\n"
         "search_space:\n"
         "  units: {type: choice, values: [128, 256, 512]}\n"
         "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
         "  optimizer: {type: choice, values: [adam, rmsprop]}\n"
         "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}\n"
         "trainer: {kind: synthetic}\n";
}

// Random search with a median pruner (and optionally the TPE sampler).
inline std::string MedianPrunedSpec(int max_trials, int epochs, int startup,
                                    const std::string& sampler = "random") {
  return "name: median-test\n"
         "algorithm: {kind: random, max_trials: " + std::to_string(max_trials) + "}\n"
         "sampler: " + sampler + "\n"
         "pruner: {kind: median, n_startup_trials: " + std::to_string(startup) +
         ", n_warmup_epochs: 2}\n"  // epoch 1 is never judged
         "seed: 7\n"
         "search_space:\n"
         "  units: {type: choice, values: [128, 256, 512]}\n"
         "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}\n"
         "trainer: {kind: synthetic, epochs: " + std::to_string(epochs) + "}\n";
}

}  // namespace tuner::testing

#endif  // TUNER_TESTS_SERVER_SPECS_H_
