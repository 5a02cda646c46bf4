#include "trial-worker/trainer_factory.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "trial-worker/command_trainer.h"
#include "trial-worker/synthetic_trainer.h"

#ifdef TUNER_WITH_TORCH
#include "trial-worker/torch/torch_trainer.h"
#endif

namespace tuner::worker {

bool BuiltWithTorch() {
#ifdef TUNER_WITH_TORCH
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Trainer>> MakeTrainer(const std::string& kind) {
  if (kind == "synthetic") return std::unique_ptr<Trainer>(std::make_unique<SyntheticTrainer>());
  if (kind == "command") return std::unique_ptr<Trainer>(std::make_unique<CommandTrainer>());
  if (kind == "torch") {
#ifdef TUNER_WITH_TORCH
    return MakeTorchTrainer();
#else
    return absl::FailedPreconditionError(
        "this trial-worker was built without LibTorch; trainer.kind torch is unavailable");
#endif
  }
  return absl::InvalidArgumentError(
      absl::StrCat("trainer.kind: \"", kind, "\" is not a trainer; allowed: synthetic, torch, command"));
}

absl::StatusOr<std::string> ResolveDevice(const std::string& device) {
  if (device == "cpu") return device;
  if (device == "auto") {
#ifdef TUNER_WITH_TORCH
    if (TorchCudaAvailable(0)) return std::string("cuda:0");
#endif
    return std::string("cpu");
  }
  const std::string prefix = "cuda:";
  bool well_formed = device.size() > prefix.size() && device.compare(0, prefix.size(), prefix) == 0;
  for (size_t i = prefix.size(); well_formed && i < device.size(); ++i) {
    well_formed = std::isdigit(static_cast<unsigned char>(device[i])) != 0;
  }
  if (!well_formed || device.size() - prefix.size() > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device: \"", device, "\" is not a device; allowed: auto, cpu, cuda:N"));
  }
  if (!BuiltWithTorch()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--device ", device, ": this trial-worker was built without LibTorch; use cpu or auto"));
  }
#ifdef TUNER_WITH_TORCH
  const int index = std::stoi(device.substr(prefix.size()));
  if (!TorchCudaAvailable(index)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--device ", device, ": no such CUDA device (this LibTorch sees none, or fewer); use cpu "
        "or auto"));
  }
#endif
  return device;
}

}  // namespace tuner::worker
