// common/atomic_file: content lands whole under the target name, no temp file is left behind
// (after success, failure or abandon), and errors name the path and say why.
#include "common/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tuner {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "atomic_file_test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(dir_, fs::perms::owner_all, ignored);
    fs::remove_all(dir_, ignored);
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Names of the files in dir, sorted.
  static std::vector<std::string> Files(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

TEST_F(AtomicFileTest, WritesTheContentAndLeavesNoTempBehind) {
  const std::string path = dir_ + "/out.json";
  const std::string data("binary\0and text\n", 16);
  ASSERT_TRUE(WriteFileAtomically(path, data).ok());
  EXPECT_EQ(Read(path), data);
  EXPECT_EQ(Files(dir_), std::vector<std::string>{"out.json"});
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::others_read);
}

TEST_F(AtomicFileTest, ReplacesAnExistingFileWholeWithTheGivenMode) {
  const std::string path = dir_ + "/port";
  ASSERT_TRUE(WriteFileAtomically(path, "a much longer first version\n").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "2\n", 0600).ok());
  EXPECT_EQ(Read(path), "2\n");
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Files(dir_), std::vector<std::string>{"port"});
}

TEST_F(AtomicFileTest, MissingDirectoryIsNotFoundNamingThePath) {
  const std::string path = dir_ + "/no-such-dir/out";
  const absl::Status s = WriteFileAtomically(path, "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "cannot write " + path + ": No such file or directory");
  EXPECT_EQ(Files(dir_), std::vector<std::string>{});
}

TEST_F(AtomicFileTest, UnwritableDirectoryIsPermissionDeniedNamingThePath) {
  // Permission bits do not stop root; sysfs refuses new files to everyone.
  std::string dir = dir_ + "/read-only";
  ASSERT_TRUE(fs::create_directory(dir));
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  if (geteuid() == 0) dir = "/sys";
  const std::string path = dir + "/out";
  const absl::Status s = WriteFileAtomically(path, "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_EQ(s.message(), "cannot write " + path + ": Permission denied");
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(AtomicFileTest, ADirectoryThatIsAFileIsAnErrorNamingThePath) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/plain", "x").ok());
  const std::string path = dir_ + "/plain/out";
  const absl::Status s = AtomicFile::Create(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(s.message(), "cannot write " + path + ": Not a directory");
}

TEST_F(AtomicFileTest, RenamingOverADirectoryFailsAndLeavesNoTemp) {
  const std::string path = dir_ + "/taken";
  ASSERT_TRUE(fs::create_directory(path));
  const absl::Status s = WriteFileAtomically(path, "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot write " + path + ": rename from "), std::string::npos) << s;
  EXPECT_EQ(Files(dir_), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::is_directory(path));
}

TEST_F(AtomicFileTest, StreamedWriteIsInvisibleUntilCommit) {
  const std::string path = dir_ + "/ckpt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("new ").ok());
  ASSERT_TRUE((*file)->Append(std::string(100000, 'z')).ok());
  EXPECT_EQ((*file)->size(), 100004);
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(fs::path((*file)->temp_path()).parent_path(), fs::path(dir_));
  EXPECT_TRUE(fs::exists((*file)->temp_path()));

  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ(Read(path), "new " + std::string(100000, 'z'));
  EXPECT_EQ(Files(dir_), std::vector<std::string>{"ckpt"});
  EXPECT_EQ((*file)->Append("more").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*file)->Commit().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AtomicFileTest, AbandonLeavesNothingAndKeepsTheOldFile) {
  const std::string path = dir_ + "/ckpt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  {
    absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append("half").ok());
    (*file)->Abandon();
    (*file)->Abandon();  // twice is harmless
    EXPECT_EQ((*file)->Commit().code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(dir_ + "/fresh");
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append("dropped by the destructor").ok());
  }
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(Files(dir_), std::vector<std::string>{"ckpt"});
}

TEST_F(AtomicFileTest, SyncDirectoryNamesAMissingDirectory) {
  EXPECT_TRUE(SyncDirectory(dir_).ok());
  const absl::Status s = SyncDirectory(dir_ + "/gone");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "cannot open directory " + dir_ + "/gone: No such file or directory");
}

}  // namespace
}  // namespace tuner
