// A small interpreter for the subset of python's pickle (protocols 2 to 4) that torch.save
// uses for state dicts: dicts / OrderedDicts of tensors rebuilt from persistent storages.
// Internal to the torch trainer; used by state_dict_file.cc.
//
// The input is untrusted (a weights file from anywhere), so the interpreter bounds what a
// pickle can make it build: nesting depth, number of objects, and tensor views that must lie
// inside their storage with sizes computed without overflow. Nothing it builds can hold a
// cycle (a container is frozen once placed in another), so shared_ptr ownership is enough.
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
// Not thread-safe; a tree is owned by whoever holds its root.
struct PickleValue {
  enum class Kind {
    kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal,
    kStorage,  // what a PersistentLoader returns: a 1-D contiguous tensor of the whole storage
    kTensor,   // a view of a storage rebuilt by _rebuild_tensor_v2
  };
  PickleValue() = default;
  PickleValue(const PickleValue&) = delete;
  PickleValue& operator=(const PickleValue&) = delete;
  // Releases the children without recursion, so that even a tree deeper than the interpreter
  // allows (built by hand) cannot overflow the stack when it is destroyed.
  ~PickleValue();

  Kind kind = Kind::kNone;
  int64_t int_value = 0;                                // kInt, kBool
  double float_value = 0;                               // kFloat
  std::string text;                                     // kString; kGlobal: "module.name"
  std::vector<PickleRef> items;                         // kTuple, kList
  std::vector<std::pair<PickleRef, PickleRef>> entries; // kDict (insertion order)
  torch::Tensor tensor;                                 // kStorage, kTensor
  // Interpreter bookkeeping: containers nested in this one, counting itself (0 for a scalar),
  // and whether it sits inside another container (then it may no longer change).
  int depth = 0;
  bool contained = false;
};

// Turns a persistent id (BINPERSID's tuple) into a kStorage value.
using PersistentLoader = std::function<absl::StatusOr<PickleRef>(const PickleValue& pid)>;

// Limits of Unpickle. A torchvision ResNet50 state dict nests 4 deep and makes ~7000 objects.
inline constexpr int kMaxPickleDepth = 100;
inline constexpr int64_t kMaxPickleObjects = 2'000'000;
inline constexpr size_t kMaxPickleStack = 1'000'000;
inline constexpr size_t kMaxTensorDims = 64;

// Runs the pickle in `data` and returns the object STOP leaves on the stack. Understands
// collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the
// torch.*Storage classes (returned as kGlobal for the loader). INVALID_ARGUMENT with the
// opcode's offset on an unknown opcode or global, a malformed stream, a premature end,
// nesting deeper than kMaxPickleDepth ("too deeply nested"), more than kMaxPickleObjects
// objects or kMaxPickleStack stack entries ("too large"), a container changed after it was
// placed in another (how a cycle is made), or a tensor view whose size overflows or that
// reaches outside its storage. Errors of `load` are returned as they are.
absl::StatusOr<PickleRef> Unpickle(std::string_view data, const PersistentLoader& load);

// The dtype of a torch.*Storage global ("torch.FloatStorage" -> kFloat); nullopt otherwise.
std::optional<torch::Dtype> StorageDtype(const std::string& global);

// numel of a tensor of `sizes`; nullopt when a size is negative or the product overflows
// int64 (even if another size is 0, as no sane tensor has such a shape).
std::optional<int64_t> CheckedNumel(const std::vector<int64_t>& sizes);

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_PICKLE_READER_H_
