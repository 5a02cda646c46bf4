// The checkpoint directory archive: our ustar round-trips a tree, reads what Python's tarfile
// writes and writes what tarfile and tar(1) read, and refuses unsafe or damaged archives.
#include "trial-worker/dir_archive.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace tuner::worker {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string kLongDir = std::string(80, 'd') + "/" + std::string(60, 'e');

void MakeTree(const fs::path& dir) {
  Write(dir / "model.pt", std::string(70000, '\x7f') + "end");
  Write(dir / "exec-0" / "state.json", "{\"epoch\": 3}\n");
  Write(dir / kLongDir / "weights.bin", "long path");
  Write(dir / "empty.txt", "");
  fs::create_directories(dir / "empty-dir");
}

void ExpectTree(const fs::path& dir) {
  EXPECT_EQ(Read(dir / "model.pt"), std::string(70000, '\x7f') + "end");
  EXPECT_EQ(Read(dir / "exec-0" / "state.json"), "{\"epoch\": 3}\n");
  EXPECT_EQ(Read(dir / kLongDir / "weights.bin"), "long path");
  EXPECT_TRUE(fs::exists(dir / "empty.txt"));
  EXPECT_TRUE(fs::is_directory(dir / "empty-dir"));
}

TEST(DirArchive, RoundTripsATreeAndSkipsSymlinks) {
  testing::TempDir tmp;
  MakeTree(tmp.File("in"));
  fs::create_symlink("model.pt", tmp.File("in/link"));
  absl::StatusOr<PackedDirectory> packed =
      PackDirectory(tmp.File("in"), tmp.File("a.tar"), 1 << 20);
  ASSERT_TRUE(packed.ok()) << packed.status();
  EXPECT_EQ(packed->files, 4);
  EXPECT_EQ(packed->bytes, static_cast<int64_t>(fs::file_size(tmp.File("a.tar"))));
  ASSERT_EQ(packed->skipped.size(), 1u);
  EXPECT_EQ(packed->skipped[0], "link (a symlink)");
  ASSERT_TRUE(UnpackArchive(tmp.File("a.tar"), tmp.File("out"), 1 << 20).ok());
  ExpectTree(tmp.File("out"));
  EXPECT_FALSE(fs::exists(tmp.File("out/link")));
}

TEST(DirArchive, PythonTarfileAndTarReadOursAndWeReadTheirs) {
  if (std::system("/usr/bin/python3 -c 'import tarfile' 2>/dev/null") != 0) {
    GTEST_SKIP() << "no /usr/bin/python3";
  }
  testing::TempDir tmp;
  MakeTree(tmp.File("in"));
  ASSERT_TRUE(PackDirectory(tmp.File("in"), tmp.File("ours.tar"), 1 << 20).ok());
  const std::string by_python = "/usr/bin/python3 -c \"import tarfile,sys; "
                                "tarfile.open(sys.argv[1]).extractall(sys.argv[2])\" " +
                                tmp.File("ours.tar") + " " + tmp.File("py-out");
  ASSERT_EQ(std::system(by_python.c_str()), 0);
  ExpectTree(tmp.File("py-out"));
  fs::create_directories(tmp.File("tar-out"));
  const std::string by_tar = "tar -xf " + tmp.File("ours.tar") + " -C " + tmp.File("tar-out");
  if (std::system("command -v tar >/dev/null") == 0) {
    ASSERT_EQ(std::system(by_tar.c_str()), 0);
    ExpectTree(tmp.File("tar-out"));
  }
  // Theirs: Python's default (pax for the long path) and GNU format (a ././@LongLink record).
  for (const char* format : {"PAX_FORMAT", "GNU_FORMAT"}) {
    const std::string archive = tmp.File(std::string(format) + ".tar");
    const std::string make = std::string("/usr/bin/python3 -c \"import tarfile,sys; t = "
                                         "tarfile.open(sys.argv[1], 'w', format=tarfile.") +
                             format + "); t.add(sys.argv[2], arcname='.'); t.close()\" " +
                             archive + " " + tmp.File("in");
    ASSERT_EQ(std::system(make.c_str()), 0);
    const std::string out = tmp.File(std::string("from-") + format);
    absl::Status s = UnpackArchive(archive, out, 1 << 20);
    ASSERT_TRUE(s.ok()) << format << ": " << s;
    ExpectTree(out);
  }
}

TEST(DirArchive, RefusesTooBigUnsafeAndDamagedArchives) {
  testing::TempDir tmp;
  MakeTree(tmp.File("in"));
  absl::StatusOr<PackedDirectory> big = PackDirectory(tmp.File("in"), tmp.File("a.tar"), 50000);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(big.status().message().find("trainer.checkpoint_max_bytes (50000 bytes)"),
            std::string::npos);
  ASSERT_TRUE(PackDirectory(tmp.File("in"), tmp.File("a.tar"), 1 << 20).ok());
  EXPECT_EQ(UnpackArchive(tmp.File("a.tar"), tmp.File("o1"), 1000).code(),
            absl::StatusCode::kResourceExhausted);
  // Truncated and corrupted.
  const std::string whole = Read(tmp.File("a.tar"));
  Write(tmp.File("cut.tar"), whole.substr(0, 700));
  EXPECT_EQ(UnpackArchive(tmp.File("cut.tar"), tmp.File("o2"), 1 << 20).code(),
            absl::StatusCode::kDataLoss);
  std::string bad = whole;
  bad[10] ^= 1;
  Write(tmp.File("bad.tar"), bad);
  EXPECT_EQ(UnpackArchive(tmp.File("bad.tar"), tmp.File("o3"), 1 << 20).code(),
            absl::StatusCode::kDataLoss);
  Write(tmp.File("text.tar"), "this is not a tar archive at all");
  EXPECT_EQ(UnpackArchive(tmp.File("text.tar"), tmp.File("o4"), 1 << 20).code(),
            absl::StatusCode::kDataLoss);
  // An entry that climbs out, made by Python's tarfile.
  if (std::system("/usr/bin/python3 -c 'import tarfile' 2>/dev/null") == 0) {
    const std::string make =
        "cd " + tmp.path() + " && /usr/bin/python3 -c \"import tarfile,io; t = tarfile.open("
        "'evil.tar', 'w', format=tarfile.USTAR_FORMAT); i = tarfile.TarInfo('../escaped'); "
        "i.size = 2; t.addfile(i, io.BytesIO(b'hi')); t.close()\"";
    ASSERT_EQ(std::system(make.c_str()), 0);
    absl::Status s = UnpackArchive(tmp.File("evil.tar"), tmp.File("o5"), 1 << 20);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("leaves the directory"), std::string::npos) << s;
    EXPECT_FALSE(fs::exists(tmp.File("escaped")));
  }
}

}  // namespace
}  // namespace tuner::worker
