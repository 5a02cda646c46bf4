#include "trial-worker/torch/state_dict_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <caffe2/serialize/inline_container.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "trial-worker/torch/pickle_reader.h"

namespace tuner::worker::torchtrainer {
namespace {

// data.pkl of a ResNet50 is 30 KB; a state dict with 100,000 tensors stays under 16 MB.
constexpr uint64_t kMaxPickleBytes = uint64_t{64} << 20;
// A central directory entry takes at least 46 bytes and a state dict file has one per tensor.
constexpr uint64_t kMaxZipDirectoryBytes = uint64_t{64} << 20;

absl::Status Bad(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("weights file ", path, ": ", why));
}

std::string ShapeString(at::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// "an int", "a list", ... for messages.
const char* KindName(PickleValue::Kind kind) {
  switch (kind) {
    case PickleValue::Kind::kNone: return "None";
    case PickleValue::Kind::kBool: return "a bool";
    case PickleValue::Kind::kInt: return "an int";
    case PickleValue::Kind::kFloat: return "a float";
    case PickleValue::Kind::kString: return "a string";
    case PickleValue::Kind::kTuple: return "a tuple";
    case PickleValue::Kind::kList: return "a list";
    case PickleValue::Kind::kDict: return "a dict";
    case PickleValue::Kind::kGlobal: return "a class or function";
    case PickleValue::Kind::kStorage: return "a bare storage";
    case PickleValue::Kind::kTensor: return "a tensor";
  }
  return "?";
}

uint64_t Le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes; i-- > 0;) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// What the zip's central directory says of each entry: PyTorchStreamReader::getRecord
// allocates `uncompressed` bytes before it inflates anything, so this is checked first.
struct ZipDirectory {
  std::string first_name;                    // the entry miniz numbers 0
  std::map<std::string, uint64_t> uncompressed;  // full name -> uncompressed size
};

bool ReadAt(std::ifstream& in, uint64_t offset, uint64_t n, std::string* out) {
  out->resize(n);
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out->data(), static_cast<std::streamsize>(n));
  return in.gcount() == static_cast<std::streamsize>(n);
}

// Finds the directory the way miniz does (the last end-of-central-directory record, then the
// zip64 record when a field is saturated) and reads each entry's name and sizes. The error
// says what is wrong; the caller adds the file name.
absl::StatusOr<ZipDirectory> ReadZipDirectory(std::ifstream& in, uint64_t file_size) {
  const auto corrupt = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("corrupt zip directory: ", what));
  };
  constexpr uint64_t kEnd = 22;  // end-of-central-directory record without its comment
  if (file_size < kEnd) return corrupt("the file is too short to hold one");
  const uint64_t tail_size = std::min<uint64_t>(file_size, kEnd + 0xffff);
  std::string tail;
  if (!ReadAt(in, file_size - tail_size, tail_size, &tail)) return corrupt("cannot read its end");
  size_t end = tail.rfind(std::string_view("PK\x05\x06", 4), tail_size - kEnd);
  if (end == std::string::npos) return corrupt("no end-of-central-directory record");
  const uint64_t end_offset = file_size - tail_size + end;
  uint64_t count = Le(&tail[end + 10], 2);
  uint64_t dir_size = Le(&tail[end + 12], 4);
  uint64_t dir_offset = Le(&tail[end + 16], 4);
  if (count == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) {
    std::string locator, record;
    if (end_offset < 20 || !ReadAt(in, end_offset - 20, 20, &locator) ||
        locator.compare(0, 4, "PK\x06\x07") != 0) {
      return corrupt("saturated fields without a zip64 locator");
    }
    const uint64_t record_offset = Le(&locator[8], 8);
    if (record_offset > file_size - 56 || !ReadAt(in, record_offset, 56, &record) ||
        record.compare(0, 4, "PK\x06\x06") != 0) {
      return corrupt("the zip64 end record is missing");
    }
    count = Le(&record[32], 8);
    dir_size = Le(&record[40], 8);
    dir_offset = Le(&record[48], 8);
  }
  if (dir_offset > end_offset || dir_size > end_offset - dir_offset) {
    return corrupt(absl::StrCat(dir_size, " bytes at offset ", dir_offset,
                                " do not fit in the file (truncated?)"));
  }
  if (dir_size > kMaxZipDirectoryBytes || count > dir_size / 46) {
    return corrupt(absl::StrCat(count, " entries in ", dir_size, " bytes"));
  }
  std::string dir;
  if (!ReadAt(in, dir_offset, dir_size, &dir)) return corrupt("cannot read it");
  ZipDirectory out;
  size_t pos = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (dir.size() - pos < 46 || dir.compare(pos, 4, "PK\x01\x02") != 0) {
      return corrupt(absl::StrCat("entry ", i, " is malformed"));
    }
    const char* h = dir.data() + pos;
    uint64_t compressed = Le(h + 20, 4), uncompressed = Le(h + 24, 4);
    const size_t name_len = Le(h + 28, 2), extra_len = Le(h + 30, 2), comment_len = Le(h + 32, 2);
    if (dir.size() - pos - 46 < name_len + extra_len + comment_len) {
      return corrupt(absl::StrCat("entry ", i, " runs past the directory"));
    }
    std::string name = dir.substr(pos + 46, name_len);
    // zip64 extra field: the 64-bit sizes, present for the saturated 32-bit ones, in order.
    for (size_t x = pos + 46 + name_len, x_end = x + extra_len; x + 4 <= x_end;) {
      const uint64_t id = Le(&dir[x], 2), len = Le(&dir[x + 2], 2);
      if (len > x_end - x - 4) return corrupt(absl::StrCat("entry ", name, " has a bad extra field"));
      if (id == 1) {
        size_t f = x + 4;
        for (uint64_t* field : {&uncompressed, &compressed}) {
          if (*field != 0xffffffff) continue;
          if (f + 8 > x + 4 + len) return corrupt(absl::StrCat("entry ", name, " lacks zip64 sizes"));
          *field = Le(&dir[f], 8);
          f += 8;
        }
      }
      x += 4 + len;
    }
    if (i == 0) out.first_name = name;
    if (!out.uncompressed.emplace(name, uncompressed).second) {
      return corrupt(absl::StrCat("entry ", name, " appears twice"));
    }
    pos += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

}  // namespace

absl::StatusOr<StateDict> ReadStateDictFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("weights file ", path, " not found"));
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() < 4) return Bad(path, "file is empty or shorter than 4 bytes");
  if (std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    if (static_cast<uint8_t>(magic[0]) == 0x80) {
      return Bad(path,
                 "legacy (pre-1.6) torch.save format; re-save it in python with "
                 "torch.save(torch.load(f), g) to get the zip format");
    }
    return Bad(path, "not a torch.save zip archive");
  }
  std::error_code error;
  const uint64_t file_size = std::filesystem::file_size(path, error);
  if (error) return Bad(path, absl::StrCat("cannot stat: ", error.message()));
  absl::StatusOr<ZipDirectory> dir = ReadZipDirectory(in, file_size);
  if (!dir.ok()) return Bad(path, dir.status().message());
  in.close();
  // PyTorchStreamReader names records relative to the folder of the archive's first entry.
  const size_t slash = dir->first_name.find('/');
  if (slash == std::string::npos) {
    return Bad(path, absl::StrCat("not a torch.save archive (its first entry ", dir->first_name,
                                  " is not in a folder)"));
  }
  const std::string folder = dir->first_name.substr(0, slash + 1);
  // Checked here too because PyTorchStreamReader's constructor throws without it, which in
  // libtorch 1.13 leaks miniz's state, and says so less clearly.
  if (!dir->uncompressed.count(folder + "version") &&
      !dir->uncompressed.count(folder + ".data/version")) {
    return Bad(path, absl::StrCat("not a torch.save archive (no ", folder, "version entry)"));
  }
  // Refused before anything is allocated for them: torch.save stores entries uncompressed,
  // so none can be larger than the file. (miniz would allocate what the directory says.)
  for (const auto& [name, size] : dir->uncompressed) {
    if (size > file_size) {
      return Bad(path, absl::StrCat("too large: entry ", name, " would take ", size,
                                    " bytes uncompressed, more than the whole file (", file_size,
                                    " bytes); torch.save stores entries uncompressed, so this "
                                    "is a deflate bomb or a corrupt directory"));
    }
  }
  const auto record_size = [&](const std::string& record) -> absl::StatusOr<uint64_t> {
    auto it = dir->uncompressed.find(folder + record);
    if (it == dir->uncompressed.end()) {
      return Bad(path, absl::StrCat("entry ", record, " is missing (truncated or incomplete?)"));
    }
    return it->second;
  };

  std::string stage = "cannot read the zip archive (truncated or corrupt?)";
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    // Both readings of the directory must agree, or the sizes checked are not those used.
    const std::vector<std::string> records = reader.getAllRecords();
    bool same = records.size() == dir->uncompressed.size();
    for (const std::string& r : records) same = same && dir->uncompressed.count(folder + r) > 0;
    if (!same) return Bad(path, "corrupt zip directory: two readings of it disagree");

    absl::StatusOr<uint64_t> pickle_size = record_size("data.pkl");
    if (!pickle_size.ok()) return pickle_size.status();
    if (*pickle_size > kMaxPickleBytes) {
      return Bad(path, absl::StrCat("too large: data.pkl has ", *pickle_size,
                                    " bytes, far more than a state dict needs"));
    }
    auto [pickle_data, pickle_bytes] = reader.getRecord("data.pkl");
    const std::string_view pickle(static_cast<const char*>(pickle_data.get()), pickle_bytes);

    // One read per storage, shared by all the tensors that view it (tied weights, or an
    // attack that names one storage many times), and all of them within the file's size.
    std::map<std::string, PickleRef> storages;
    uint64_t storage_bytes = 0;
    const PersistentLoader load = [&](const PickleValue& pid) -> absl::StatusOr<PickleRef> {
      // ('storage', torch.FloatStorage, key, location, numel)
      if (pid.kind != PickleValue::Kind::kTuple || pid.items.size() < 5 ||
          pid.items[0]->text != "storage" || pid.items[1]->kind != PickleValue::Kind::kGlobal ||
          pid.items[2]->kind != PickleValue::Kind::kString ||
          pid.items[4]->kind != PickleValue::Kind::kInt) {
        return Bad(path, "unexpected persistent id in data.pkl");
      }
      std::optional<torch::Dtype> dtype = StorageDtype(pid.items[1]->text);
      if (!dtype) return Bad(path, absl::StrCat("unsupported storage ", pid.items[1]->text));
      const std::string& key = pid.items[2]->text;
      const int64_t numel = pid.items[4]->int_value;
      if (numel < 0) return Bad(path, absl::StrCat("storage ", key, " has a negative size"));
      int64_t bytes = 0;
      if (__builtin_mul_overflow(numel, static_cast<int64_t>(torch::elementSize(*dtype)), &bytes)) {
        return Bad(path, absl::StrCat("too large: storage ", key, " of ", numel, " elements"));
      }
      if (auto it = storages.find(key); it != storages.end()) {
        const torch::Tensor& seen = it->second->tensor;
        if (seen.scalar_type() != *dtype || seen.numel() != numel) {
          return Bad(path, absl::StrCat("storage ", key, " is named with two types or sizes"));
        }
        return it->second;
      }
      const std::string record = "data/" + key;
      absl::StatusOr<uint64_t> size = record_size(record);
      if (!size.ok()) return size.status();
      if (*size < static_cast<uint64_t>(bytes)) {
        return Bad(path, absl::StrCat("entry ", record, " has ", *size, " bytes, its storage needs ",
                                      bytes, " (truncated?)"));
      }
      storage_bytes += *size;
      if (storage_bytes > file_size) {
        return Bad(path, absl::StrCat("too large: the storages take more than the whole file (",
                                      file_size, " bytes)"));
      }
      stage = absl::StrCat("cannot read entry ", record, " of the zip archive (corrupt?)");
      auto [data, read] = reader.getRecord(record);
      stage = "cannot rebuild the tensors";
      // The tensor takes over the record's buffer rather than copying it.
      c10::Storage storage(c10::Storage::use_byte_size_t(), read, std::move(data),
                           /*allocator=*/nullptr, /*resizable=*/false);
      auto value = std::make_shared<PickleValue>();
      value->kind = PickleValue::Kind::kStorage;
      value->tensor = torch::empty({0}, torch::TensorOptions().dtype(*dtype))
                          .set_(storage, /*storage_offset=*/0, {numel}, {1});
      storages.emplace(key, value);
      return value;
    };

    stage = "cannot rebuild the tensors";
    absl::StatusOr<PickleRef> root = Unpickle(pickle, load);
    if (!root.ok()) {
      if (absl::StartsWith(root.status().message(), "weights file ")) return root.status();
      return Bad(path, absl::StrCat("data.pkl: ", root.status().message()));
    }
    if ((*root)->kind != PickleValue::Kind::kDict) {
      return Bad(path, absl::StrCat("does not hold a dict of tensors but ",
                                    KindName((*root)->kind), " (a whole pickled model?)"));
    }
    StateDict out;
    uint64_t copied_bytes = 0;  // views that are not contiguous are copied
    for (const auto& [key, value] : (*root)->entries) {
      if (key->kind != PickleValue::Kind::kString) {
        return Bad(path, absl::StrCat("not a state dict: a key is ", KindName(key->kind),
                                      ", not a name"));
      }
      if (value->kind != PickleValue::Kind::kTensor) {
        return Bad(path, absl::StrCat("not a state dict: ", key->text, " is ",
                                      KindName(value->kind), ", not a tensor"));
      }
      const torch::Tensor& tensor = value->tensor;
      if (!tensor.is_contiguous()) {
        int64_t bytes = 0;
        const bool overflow = __builtin_mul_overflow(
            tensor.numel(), static_cast<int64_t>(tensor.element_size()), &bytes);
        copied_bytes += static_cast<uint64_t>(bytes);
        if (overflow || copied_bytes > file_size) {
          return Bad(path, absl::StrCat("too large: ", key->text, " is a strided view of ",
                                        ShapeString(tensor.sizes()), " (stride ",
                                        ShapeString(tensor.strides()),
                                        ") whose copies would take more than the whole file (",
                                        file_size, " bytes)"));
        }
      }
      out.emplace_back(key->text, tensor.contiguous());
    }
    bool all_module = !out.empty();
    for (const auto& entry : out) all_module = all_module && entry.first.rfind("module.", 0) == 0;
    if (all_module) {
      for (auto& entry : out) entry.first.erase(0, 7);
    }
    return out;
  } catch (const c10::Error& e) {
    return Bad(path, absl::StrCat(stage, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Bad(path, absl::StrCat(stage, ": ", e.what()));
  }
}

absl::Status LoadStateDict(torch::nn::Module& module, const StateDict& state,
                           const std::string& path,
                           const std::vector<std::string>& ignored_prefixes) {
  std::map<std::string, torch::Tensor> targets;
  std::vector<std::string> order;  // the module's, so "missing" names the first one first
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    targets[item.key()] = item.value();
    order.push_back(item.key());
  }
  std::set<std::string> buffers;
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    targets[item.key()] = item.value();
    buffers.insert(item.key());
    order.push_back(item.key());
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
  for (const std::string& name : order) {
    // BatchNorm's step counter is absent from files written before torch 0.4.1 and by some
    // converters; python's BatchNorm loading tolerates that and so do we (the module keeps
    // its own). It only matters for momentum=None, which torchvision's models do not use.
    const bool step_counter = buffers.count(name) > 0 &&
                              (name == "num_batches_tracked" ||
                               absl::EndsWith(name, ".num_batches_tracked"));
    if (!seen.count(name) && !step_counter && problems.size() < 1000) {
      problems.push_back("missing " + name);
    }
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
