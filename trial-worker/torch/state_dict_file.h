// Reads a state dict saved by python's torch.save (the zip format torchvision's
// `resnet50-*.pth` files use) without python: the zip entries are read with
// caffe2's PyTorchStreamReader and the pickle (protocol 2..4) is interpreted here, because
// libtorch 1.13's torch::pickle_load refuses torchvision's OrderedDict with `_metadata`.
#ifndef TUNER_TRIAL_WORKER_TORCH_STATE_DICT_FILE_H_
#define TUNER_TRIAL_WORKER_TORCH_STATE_DICT_FILE_H_

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tuner::worker::torchtrainer {

// Name -> tensor, in the file's order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads `path`. NOT_FOUND when the file does not exist; INVALID_ARGUMENT naming the file and
// the problem when it is not a torch.save zip archive, is truncated, or does not hold a
// dict of tensors. A leading "module." (DataParallel) on every key is removed.
//
// The file is untrusted: what it can make the reader allocate is bounded by its own size.
// An entry larger than the file (torch.save stores entries uncompressed: a deflate bomb),
// storages or copies of strided views that together exceed the file, sizes that overflow,
// views outside their storage and pickles nested too deeply are refused before any
// allocation, with a message that says which ("too large", "too deeply nested", "entry
// data/3 is missing", ...). Each storage is read once; the tensors that view it share it.
absl::StatusOr<StateDict> ReadStateDictFile(const std::string& path);

// Copies `state` into `module`'s parameters and buffers by name. Every parameter and buffer
// of the module must be present with the same shape, except BatchNorm's
// `num_batches_tracked` counters, which python tolerates missing (the module keeps its
// own); entries whose name starts with one of
// `ignored_prefixes` (e.g. "fc." when the module has its own head) are skipped; any other
// entry the module lacks is an error. INVALID_ARGUMENT naming `path` (for the message only)
// and the first mismatches.
absl::Status LoadStateDict(torch::nn::Module& module, const StateDict& state,
                           const std::string& path,
                           const std::vector<std::string>& ignored_prefixes = {});

}  // namespace tuner::worker::torchtrainer

#endif  // TUNER_TRIAL_WORKER_TORCH_STATE_DICT_FILE_H_
