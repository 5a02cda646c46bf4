// A small interpreter for the subset of python's pickle (protocols 2 to 4) that torch.save
// uses for state dicts: dicts / OrderedDicts of tensors rebuilt from persistent storages.
// Internal to the torch trainer; used by state_dict_file.cc.
#ifndef TUNER_TRIAL_WORKER_TORCH_PICKLE_READER_H_
#define TUNER_TRIAL_WORKER_TORCH_PICKLE_READER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"

namespace tuner::worker::torchtrainer {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

// One unpickled object. Only the kinds a state dict needs; anything else is an error.
struct PickleValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kTensor };
  Kind kind = Kind::kNone;
  int64_t int_value = 0;                                // kInt, kBool
  double float_value = 0;                               // kFloat
  std::string text;                                     // kString; kGlobal: "module.name"
  std::vector<PickleRef> items;                         // kTuple, kList
  std::vector<std::pair<PickleRef, PickleRef>> entries; // kDict (insertion order)
  torch::Tensor tensor;                                 // kTensor (a storage or a view of one)
};

// Turns a persistent id (BINPERSID's tuple) into a storage tensor.
using PersistentLoader = std::function<absl::StatusOr<PickleRef>(const PickleValue& pid)>;

// Runs the pickle in `data` and returns the object STOP leaves on the stack. Understands
// collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the
// torch.*Storage classes (returned as kGlobal for the loader). INVALID_ARGUMENT on an
// unknown opcode or global, a malformed stream or a premature end.
absl::StatusOr<PickleRef> Unpickle(std::string_view data, const PersistentLoader& load);

// The dtype of a torch.*Storage global ("torch.FloatStorage" -> kFloat); nullopt otherwise.
std::optional<torch::Dtype> StorageDtype(const std::string& global);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_PICKLE_READER_H_
