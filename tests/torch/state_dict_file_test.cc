// Reading torch.save state dict files: errors name the file and the problem, and no file,
// however crafted, crashes the reader or makes it allocate far more than the file's size.
#include <sys/resource.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/testing/temp_dir.h"
#include "trial-worker/torch/pickle_reader.h"
#include "trial-worker/torch/resnet.h"
#include "trial-worker/torch/state_dict_file.h"

namespace tuner::worker::torchtrainer {
namespace {

// A zip state dict file as torch.save writes it, made with torch::pickle_save.
void WriteDict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& items) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [k, v] : items) dict.insert(k, v);
  const std::vector<char> bytes = torch::pickle_save(dict);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A zip archive as torch.save writes it (records under "archive/", stored uncompressed).
void WriteArchive(const std::string& path,
                  const std::vector<std::pair<std::string, std::string>>& records) {
  std::ofstream out(path, std::ios::binary);
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    return n;
  });
  for (const auto& [name, bytes] : records) writer.writeRecord(name, bytes.data(), bytes.size());
  writer.writeEndOfFile();
}

// Hand-made pickles in torch.save's dialect, for the files torch.save would never write.
class PickleWriter {
 public:
  PickleWriter() : bytes_("\x80\x02") {}
  PickleWriter& Op(const std::string& op) { bytes_ += op; return *this; }
  PickleWriter& Str(const std::string& s) {
    bytes_ += 'X';
    Little(s.size(), 4);
    bytes_ += s;
    return *this;
  }
  PickleWriter& Int(int64_t v) {
    bytes_ += "\x8a\x08";  // LONG1 of 8 bytes
    Little(static_cast<uint64_t>(v), 8);
    return *this;
  }
  PickleWriter& Ints(const std::vector<int64_t>& values) {
    Op("(");
    for (int64_t v : values) Int(v);
    return Op("t");
  }
  // _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride)
  PickleWriter& Tensor(const std::string& key, int64_t storage_numel, int64_t offset,
                       const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    Op("ctorch._utils\n_rebuild_tensor_v2\n((").Str("storage").Op("ctorch\nFloatStorage\n");
    Str(key).Str("cpu").Int(storage_numel).Op("tQ").Int(offset).Ints(size).Ints(stride);
    return Op("\x89tR");  // requires_grad=False
  }
  std::string Done() const { return bytes_ + "."; }

 private:
  void Little(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string bytes_;
};

std::string Floats(int64_t n) { return std::string(static_cast<size_t>(n) * 4, '\0'); }

// The peak resident memory of this process so far, in MiB.
int64_t PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

// Expects `state` to be refused with INVALID_ARGUMENT naming `path` and saying `what`.
void ExpectRefused(const absl::StatusOr<StateDict>& state, const std::string& path,
                   const std::string& what) {
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument) << state.status();
  EXPECT_NE(state.status().message().find(path), std::string::npos) << state.status();
  EXPECT_NE(state.status().message().find(what), std::string::npos) << state.status();
}

TEST(StateDictFile, ReadsNamesAndValuesOfAZipStateDict) {
  testing::TempDir dir;
  WriteDict(dir.File("w.pth"), {{"a.weight", torch::arange(6, torch::kFloat).reshape({2, 3})},
                                {"a.num_batches_tracked", torch::tensor(7, torch::kLong)}});
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("w.pth"));
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->size(), 2u);
  EXPECT_EQ((*state)[0].first, "a.weight");
  EXPECT_TRUE((*state)[0].second.equal(torch::arange(6, torch::kFloat).reshape({2, 3})));
  EXPECT_EQ((*state)[1].second.item<int64_t>(), 7);
}

TEST(StateDictFile, MissingFileIsNotFound) {
  absl::StatusOr<StateDict> state = ReadStateDictFile("/nonexistent/resnet50.pth");
  EXPECT_EQ(state.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(state.status().message().find("/nonexistent/resnet50.pth"), std::string::npos);
}

TEST(StateDictFile, ForeignFileIsInvalidArgument) {
  testing::TempDir dir;
  std::ofstream(dir.File("notes.pth")) << "these are not weights";
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("notes.pth"));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(state.status().message().find("not a torch.save zip archive"), std::string::npos)
      << state.status();
}

TEST(StateDictFile, TruncatedFileIsInvalidArgument) {
  testing::TempDir dir;
  WriteDict(dir.File("w.pth"), {{"a.weight", torch::ones({64, 64})}});
  std::ifstream in(dir.File("w.pth"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.File("cut.pth"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("cut.pth"));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(state.status().message().find(dir.File("cut.pth")), std::string::npos) << state.status();
}

TEST(StateDictFile, WholeTensorIsNotAStateDict) {
  testing::TempDir dir;
  const std::vector<char> bytes = torch::pickle_save(torch::ones({3}));
  std::ofstream(dir.File("t.pth"), std::ios::binary).write(bytes.data(), bytes.size());
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("t.pth"));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(state.status().message().find("dict of tensors"), std::string::npos) << state.status();
}

TEST(StateDictFile, WrongNamesAndShapesAreNamed) {
  testing::TempDir dir;
  ResNet model(ResNet18CifarOptions());
  StateDict state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : model->named_buffers()) state.emplace_back(b.key(), b.value().clone());
  ASSERT_TRUE(LoadStateDict(*model, state, "ok.pth").ok());

  StateDict bad = state;
  bad[0].second = torch::zeros({1, 2, 3});
  bad.emplace_back("classifier.weight", torch::zeros({2}));
  absl::Status s = LoadStateDict(*model, bad, "bad.pth");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad.pth"), std::string::npos) << s;
  EXPECT_NE(s.message().find("conv1.weight has shape [1, 2, 3]"), std::string::npos) << s;
  EXPECT_NE(s.message().find("unexpected classifier.weight"), std::string::npos) << s;

  StateDict missing(state.begin() + 1, state.end());
  s = LoadStateDict(*model, missing, "missing.pth");
  EXPECT_NE(s.message().find("missing conv1.weight"), std::string::npos) << s;
}

TEST(StateDictFile, MissingNumBatchesTrackedKeepsTheModulesCounter) {
  ResNet model(ResNet18CifarOptions());
  StateDict state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), p.value().detach().clone());
  int64_t counters = 0;
  for (const auto& b : model->named_buffers()) {
    if (b.key().find("num_batches_tracked") != std::string::npos) {
      b.value().fill_(5);
      ++counters;
      continue;  // as in files from torch < 0.4.1
    }
    state.emplace_back(b.key(), b.value().clone());
  }
  ASSERT_GT(counters, 0);
  absl::Status s = LoadStateDict(*model, state, "old.pth");
  ASSERT_TRUE(s.ok()) << s;
  for (const auto& b : model->named_buffers()) {
    if (b.key().find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(b.value().item<int64_t>(), 5) << b.key();
    }
  }
  // Any other missing buffer is still an error.
  StateDict no_mean;
  for (const auto& entry : state) {
    if (entry.first != "bn1.running_mean") no_mean.push_back(entry);
  }
  s = LoadStateDict(*model, no_mean, "old.pth");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("missing bn1.running_mean"), std::string::npos) << s;
}

TEST(StateDictFile, MillionNestedListsAreTooDeepNotACrash) {
  testing::TempDir dir;
  const int n = 1'000'000;
  const std::string pickle = "\x80\x02" + std::string(n, ']') + std::string(n - 1, 'a') + ".";
  WriteArchive(dir.File("deep.pth"), {{"data.pkl", pickle}});
  ExpectRefused(ReadStateDictFile(dir.File("deep.pth")), dir.File("deep.pth"),
                "too deeply nested");
}

TEST(StateDictFile, DestroyingAMillionLevelValueTreeDoesNotRecurse) {
  // Deeper than Unpickle allows, as only code could build it; the destructor must not recurse.
  auto root = std::make_shared<PickleValue>();
  PickleValue* leaf = root.get();
  for (int i = 0; i < 1'000'000; ++i) {
    leaf->items.push_back(std::make_shared<PickleValue>());
    leaf = leaf->items.back().get();
  }
  root.reset();
  SUCCEED();
}

TEST(StateDictFile, CyclicListIsRefused) {
  testing::TempDir dir;
  const std::string pickle("\x80\x02]q\x00h\x00" "a.", 9);  // a list appended to itself
  WriteArchive(dir.File("cycle.pth"), {{"data.pkl", pickle}});
  ExpectRefused(ReadStateDictFile(dir.File("cycle.pth")), dir.File("cycle.pth"), "cyclic");
}

TEST(StateDictFile, StorageNamedTwoHundredTimesIsReadOnce) {
  testing::TempDir dir;
  const int64_t numel = 4 << 20;  // 16 MiB; 200 copies would be 3.2 GiB
  PickleWriter p;
  p.Op("}(");
  for (int i = 0; i < 200; ++i) p.Str("w" + std::to_string(i)).Tensor("0", numel, 0, {numel}, {1});
  WriteArchive(dir.File("tied.pth"), {{"data.pkl", p.Op("u").Done()}, {"data/0", Floats(numel)}});
  const int64_t before = PeakRssMiB();
  absl::StatusOr<StateDict> state = ReadStateDictFile(dir.File("tied.pth"));
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->size(), 200u);
  for (const auto& [name, tensor] : *state) {
    EXPECT_EQ(tensor.data_ptr(), (*state)[0].second.data_ptr()) << name << " was read again";
  }
  EXPECT_LT(PeakRssMiB() - before, 200) << "MiB more at peak";
}

TEST(StateDictFile, DeflateBombIsRefusedBeforeInflating) {
  testing::TempDir dir;
  const int64_t numel = 64 << 20;  // 256 MiB of zeros, about 256 KiB deflated
  PickleWriter p;
  p.Op("}(").Str("w").Tensor("0", numel, 0, {numel}, {1}).Op("u");
  std::ofstream(dir.File("data.pkl"), std::ios::binary) << p.Done();
  // python's zipfile, streaming, so neither side ever holds the 256 MiB.
  const std::string script =
      "import sys, zipfile\n"
      "out, pkl = sys.argv[1], sys.argv[2]\n"
      "with zipfile.ZipFile(out, 'w') as z:\n"
      "    z.writestr('archive/data.pkl', open(pkl, 'rb').read())\n"
      "    z.writestr('archive/version', '3\\n')\n"
      "    info = zipfile.ZipInfo('archive/data/0')\n"
      "    info.compress_type = zipfile.ZIP_DEFLATED\n"
      "    with z.open(info, 'w') as f:\n"
      "        for _ in range(256): f.write(bytes(1 << 20))\n";
  std::ofstream(dir.File("bomb.py")) << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + dir.File("bomb.py") + " " + dir.File("bomb.pth") +
                         " " + dir.File("data.pkl")).c_str()), 0);
  const int64_t before = PeakRssMiB();
  ExpectRefused(ReadStateDictFile(dir.File("bomb.pth")), dir.File("bomb.pth"),
                "entry archive/data/0 would take 268435456 bytes uncompressed, more than the whole file");
  EXPECT_LT(PeakRssMiB() - before, 64) << "MiB more at peak";
}

TEST(StateDictFile, StrideZeroViewLargerThanTheFileIsRefused) {
  testing::TempDir dir;
  PickleWriter p;  // one float seen as 10^9 (4 GB once copied)
  p.Op("}(").Str("w").Tensor("0", 1, 0, {1'000'000'000}, {0}).Op("u");
  WriteArchive(dir.File("s0.pth"), {{"data.pkl", p.Done()}, {"data/0", Floats(1)}});
  ExpectRefused(ReadStateDictFile(dir.File("s0.pth")), dir.File("s0.pth"),
                "too large: w is a strided view of [1000000000] (stride [0])");
}

TEST(StateDictFile, ViewOutsideItsStorageIsRefused) {
  testing::TempDir dir;
  PickleWriter p;
  p.Op("}(").Str("w").Tensor("0", 4, 0, {2, 3}, {3, 1}).Op("u");
  WriteArchive(dir.File("out.pth"), {{"data.pkl", p.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("out.pth")), dir.File("out.pth"),
                "reaches element 5, outside its storage of 4 elements");
}

TEST(StateDictFile, NegativeStrideAndOffsetAreRefused) {
  testing::TempDir dir;
  PickleWriter p;
  p.Op("}(").Str("w").Tensor("0", 4, 0, {2}, {-1}).Op("u");
  WriteArchive(dir.File("neg.pth"), {{"data.pkl", p.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("neg.pth")), dir.File("neg.pth"), "or stride [-1] is negative");
  PickleWriter q;
  q.Op("}(").Str("w").Tensor("0", 4, -1, {2}, {1}).Op("u");
  WriteArchive(dir.File("neg.pth"), {{"data.pkl", q.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("neg.pth")), dir.File("neg.pth"),
                "offset -1 is negative");
  PickleWriter r;
  r.Op("}(").Str("w").Tensor("0", -5, 0, {2}, {1}).Op("u");
  WriteArchive(dir.File("neg.pth"), {{"data.pkl", r.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("neg.pth")), dir.File("neg.pth"),
                "storage 0 has a negative size");
}

TEST(StateDictFile, SizesThatOverflowAreRefused) {
  testing::TempDir dir;
  const int64_t big = int64_t{1} << 31;
  PickleWriter p;  // numel 2^93
  p.Op("}(").Str("w").Tensor("0", 4, 0, {big, big, big}, {0, 0, 0}).Op("u");
  WriteArchive(dir.File("numel.pth"), {{"data.pkl", p.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("numel.pth")), dir.File("numel.pth"),
                "tensor size [2147483648, 2147483648, 2147483648] overflows");
  PickleWriter q;  // extent offset + (size-1)*stride beyond int64
  q.Op("}(").Str("w").Tensor("0", 4, 0, {3}, {int64_t{1} << 62}).Op("u");
  WriteArchive(dir.File("extent.pth"), {{"data.pkl", q.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("extent.pth")), dir.File("extent.pth"),
                "overflows");
  PickleWriter r;  // storage numel * 4 beyond int64
  r.Op("}(").Str("w").Tensor("0", int64_t{1} << 62, 0, {1}, {1}).Op("u");
  WriteArchive(dir.File("storage.pth"), {{"data.pkl", r.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("storage.pth")), dir.File("storage.pth"),
                "too large: storage 0 of 4611686018427387904 elements");
}

TEST(StateDictFile, MissingStorageEntryIsNamed) {
  testing::TempDir dir;
  PickleWriter p;
  p.Op("}(").Str("w").Tensor("7", 4, 0, {4}, {1}).Op("u");
  WriteArchive(dir.File("m.pth"), {{"data.pkl", p.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("m.pth")), dir.File("m.pth"), "entry data/7 is missing");
}

TEST(StateDictFile, StorageEntryShorterThanItsStorageIsRefused) {
  testing::TempDir dir;
  PickleWriter p;
  p.Op("}(").Str("w").Tensor("0", 1000, 0, {4}, {1}).Op("u");
  WriteArchive(dir.File("short.pth"), {{"data.pkl", p.Done()}, {"data/0", Floats(4)}});
  ExpectRefused(ReadStateDictFile(dir.File("short.pth")), dir.File("short.pth"),
                "entry data/0 has 16 bytes, its storage needs 4000");
}

TEST(StateDictFile, DictOfOtherThingsIsNotAStateDict) {
  testing::TempDir dir;
  PickleWriter p;
  p.Op("}(").Str("epoch").Int(3).Op("u");
  WriteArchive(dir.File("ckpt.pth"), {{"data.pkl", p.Done()}});
  ExpectRefused(ReadStateDictFile(dir.File("ckpt.pth")), dir.File("ckpt.pth"),
                "not a state dict: epoch is an int, not a tensor");
}

}  // namespace
}  // namespace tuner::worker::torchtrainer
