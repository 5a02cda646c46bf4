// Spec helpers shared by the search tests.
#ifndef TUNER_TESTS_SEARCH_TEST_SPECS_H_
#define TUNER_TESTS_SEARCH_TEST_SPECS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "search/study_spec.h"

namespace tuner::search::specs {

// The four-param space of examples/seed000-cifar10.yaml (3 x 4 x 2 x continuous).
inline std::string CifarSpace() {
  return "search_space:\n"
         "  units: {type: choice, values: [128, 256, 512]}\n"
         "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
         "  optimizer: {type: choice, values: [adam, rmsprop]}\n"
         "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}\n";
}

inline std::string SpecYaml(const std::string& algorithm, uint64_t seed = 42,
                            const std::string& space = CifarSpace()) {
  return "name: test\nalgorithm: " + algorithm + "\nseed: " + std::to_string(seed) + "\n" + space +
         "trainer: {kind: synthetic, epochs: 5}\n";
}

// Parses a spec that the test knows to be valid.
inline StudySpec MustParse(const std::string& yaml) {
  absl::StatusOr<StudySpec> spec = ParseStudySpec(yaml);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : StudySpec{};
}

// Creates a policy of type Policy (HyperbandPolicy, AshaPolicy, ...) from a spec the test knows
// to be valid.
template <typename Policy>
std::unique_ptr<Policy> MakePolicy(const std::string& algorithm, uint64_t seed) {
  auto policy = Policy::Create(MustParse(SpecYaml(algorithm, seed)));
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : nullptr;
}

// A deterministic objective: a hash of the params, slightly better with more epochs.
inline double HashScore(const Params& params, int epochs) {
  uint64_t hash = 1469598103934665603ull;
  for (const auto& [name, value] : params) {
    for (char c : name + "=" + ParamValueToString(value) + ";") hash = (hash ^ c) * 1099511628211ull;
  }
  return static_cast<double>(hash >> 11) * 0x1.0p-53 + 1e-4 * epochs;
}

}  // namespace tuner::search::specs

#endif  // TUNER_TESTS_SEARCH_TEST_SPECS_H_
