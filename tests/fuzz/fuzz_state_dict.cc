// fuzz_state_dict: the .pth weights reader (trial-worker/torch/state_dict_file.cc and its
// pickle interpreter, pickle_reader.cc) on arbitrary bytes. The first byte picks what the
// rest is:
//   even: data.pkl of an archive that torch.save's own writer builds around it, beside a fake
//         storage table (data/0 .. data/7, 256 bytes each), so mutations reach the interpreter,
//         the storage loader and the tensor rebuilding instead of dying on a zip checksum;
//   odd:  the whole file, so they reach the zip directory checks too.
// A state dict the reader accepts is loaded into a small module with LoadStateDict, whose
// names match the seeds' (python's nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2))).
// Built as a libFuzzer target (tests/fuzz/CMakeLists.txt, clang) and as a plain regression
// runner with regression_main.cc (tests/fuzz/ctest.cmake, any compiler).
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include "trial-worker/torch/state_dict_file.h"

namespace {

// The file each input is written to: ReadStateDictFile reads a path, as the worker does.
std::string* input_path = nullptr;
// FUZZ_VERBOSE=1: print what the reader says of each input (to see why a seed is refused).
bool verbose = false;

void RemoveInputDir() {
  if (input_path == nullptr) return;
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(*input_path).parent_path(), ignored);
}

std::string ArchiveAround(const char* pickle, size_t size) {
  std::string zip;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    zip.append(static_cast<const char*>(data), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle, size);
  const std::string storage(256, '\x01');
  for (int key = 0; key < 8; ++key) {
    writer.writeRecord("data/" + std::to_string(key), storage.data(), storage.size());
  }
  writer.writeEndOfFile();
  return zip;
}

}  // namespace

// libtorch 1.13's PyTorchStreamReader leaks miniz's state (about 800 bytes) when its
// constructor throws after opening the archive (a version entry that does not parse, a bad
// checksum); the reader checks what it can first, the rest is libtorch's to fix. libtorch
// is stripped and built without frame pointers, so such a leak's stack is just malloc and a
// libtorch_cpu frame: that module is suppressed. Our own objects (PickleValue and the rest)
// are allocated from our frames and are still reported.
extern "C" const char* __lsan_default_suppressions() { return "leak:libtorch_cpu.so\n"; }

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  torch::set_num_threads(1);  // no thread pool: every input runs the same way
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/fuzz_state_dict-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    std::perror("fuzz_state_dict: mkdtemp");
    std::abort();
  }
  input_path = new std::string(dir + "/input.pth");
  verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
  std::atexit(RemoveInputDir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char* rest = reinterpret_cast<const char*>(data + 1);
  const std::string file = (data[0] & 1) == 0 ? ArchiveAround(rest, size - 1)
                                              : std::string(rest, size - 1);
  std::ofstream(*input_path, std::ios::binary | std::ios::trunc)
      .write(file.data(), static_cast<std::streamsize>(file.size()));
  absl::StatusOr<tuner::worker::torchtrainer::StateDict> state =
      tuner::worker::torchtrainer::ReadStateDictFile(*input_path);
  if (!state.ok()) {
    if (verbose) std::fprintf(stderr, "refused: %s\n", state.status().ToString().c_str());
    return 0;
  }
  torch::nn::Sequential model(torch::nn::Linear(4, 2), torch::nn::BatchNorm1d(2));
  const absl::Status loaded = tuner::worker::torchtrainer::LoadStateDict(*model, *state, *input_path);
  if (verbose) {
    std::fprintf(stderr, "read %zu tensors; loaded: %s\n", state->size(), loaded.ToString().c_str());
  }
  return 0;
}
