#include "trial-worker/torch/state_dict_file.h"

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <caffe2/serialize/inline_container.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "trial-worker/torch/pickle_reader.h"

namespace tuner::worker::torchtrainer {
namespace {

absl::Status Bad(const std::string& path, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("weights file ", path, ": ", why));
}

std::string ShapeString(at::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

absl::StatusOr<StateDict> ReadStateDictFile(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) return absl::NotFoundError(absl::StrCat("weights file ", path, " not found"));
  char magic[4] = {};
  probe.read(magic, 4);
  if (probe.gcount() < 4) return Bad(path, "file is empty or shorter than 4 bytes");
  if (std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    if (static_cast<uint8_t>(magic[0]) == 0x80) {
      return Bad(path,
                 "legacy (pre-1.6) torch.save format; re-save it in python with "
                 "torch.save(torch.load(f), g) to get the zip format");
    }
    return Bad(path, "not a torch.save zip archive");
  }
  probe.close();
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("data.pkl")) return Bad(path, "archive has no data.pkl entry");
    auto [pickle_data, pickle_size] = reader.getRecord("data.pkl");
    const std::string_view pickle(static_cast<const char*>(pickle_data.get()), pickle_size);

    const PersistentLoader load = [&](const PickleValue& pid) -> absl::StatusOr<PickleRef> {
      // ('storage', torch.FloatStorage, key, location, numel)
      if (pid.kind != PickleValue::Kind::kTuple || pid.items.size() < 5 ||
          pid.items[0]->text != "storage" || pid.items[1]->kind != PickleValue::Kind::kGlobal ||
          pid.items[4]->kind != PickleValue::Kind::kInt) {
        return Bad(path, "unexpected persistent id in data.pkl");
      }
      std::optional<torch::Dtype> dtype = StorageDtype(pid.items[1]->text);
      if (!dtype) return Bad(path, absl::StrCat("unsupported storage ", pid.items[1]->text));
      const std::string record = "data/" + pid.items[2]->text;
      if (!reader.hasRecord(record)) return Bad(path, absl::StrCat("missing entry ", record));
      auto [data, size] = reader.getRecord(record);
      const int64_t numel = pid.items[4]->int_value;
      const size_t bytes = static_cast<size_t>(numel) * torch::elementSize(*dtype);
      if (numel < 0 || size < bytes) {
        return Bad(path, absl::StrCat("entry ", record, " has ", size, " bytes, expected ", bytes,
                                      " (truncated?)"));
      }
      auto value = std::make_shared<PickleValue>();
      value->kind = PickleValue::Kind::kTensor;
      value->tensor = torch::empty({numel}, torch::TensorOptions().dtype(*dtype));
      if (bytes > 0) std::memcpy(value->tensor.data_ptr(), data.get(), bytes);
      return value;
    };

    absl::StatusOr<PickleRef> root = Unpickle(pickle, load);
    if (!root.ok()) return Bad(path, std::string(root.status().message()));
    if ((*root)->kind != PickleValue::Kind::kDict) {
      return Bad(path, "does not hold a dict of tensors (a whole pickled model?)");
    }
    StateDict out;
    for (const auto& [key, value] : (*root)->entries) {
      if (key->kind != PickleValue::Kind::kString || value->kind != PickleValue::Kind::kTensor) {
        return Bad(path, "the dict holds something other than name -> tensor");
      }
      out.emplace_back(key->text, value->tensor.contiguous());
    }
    bool all_module = !out.empty();
    for (const auto& entry : out) all_module = all_module && entry.first.rfind("module.", 0) == 0;
    if (all_module) {
      for (auto& entry : out) entry.first.erase(0, 7);
    }
    return out;
  } catch (const c10::Error& e) {
    return Bad(path, absl::StrCat("cannot read the zip archive (truncated or corrupt?): ",
                                  e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Bad(path, absl::StrCat("cannot read: ", e.what()));
  }
}

absl::Status LoadStateDict(torch::nn::Module& module, const StateDict& state,
                           const std::string& path,
                           const std::vector<std::string>& ignored_prefixes) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    targets[item.key()] = item.value();
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    targets[item.key()] = item.value();
  }
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : state) {
    bool ignored = false;
    for (const std::string& prefix : ignored_prefixes) {
      ignored = ignored || name.rfind(prefix, 0) == 0;
    }
    if (ignored) continue;
    auto it = targets.find(name);
    if (it == targets.end()) {
      problems.push_back(absl::StrCat("unexpected ", name));
      continue;
    }
    if (it->second.sizes() != tensor.sizes()) {
      problems.push_back(absl::StrCat(name, " has shape ", ShapeString(tensor.sizes()),
                                      ", the model expects ", ShapeString(it->second.sizes())));
      continue;
    }
    seen.insert(name);
  }
  for (const auto& [name, tensor] : targets) {
    if (!seen.count(name) && problems.size() < 1000) problems.push_back("missing " + name);
  }
  if (!problems.empty()) {
    const size_t shown = std::min<size_t>(problems.size(), 5);
    return Bad(path, absl::StrCat("does not match the model (", problems.size(), " problems: ",
                                  absl::StrJoin(problems.begin(), problems.begin() + shown, "; "),
                                  problems.size() > shown ? "; ..." : "", ")"));
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : state) {
    auto it = targets.find(name);
    if (it == targets.end() || !seen.count(name)) continue;
    it->second.copy_(tensor.to(it->second.dtype()));
  }
  return absl::OkStatus();
}

}  // namespace tuner::worker::torchtrainer
