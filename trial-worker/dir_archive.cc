#include "trial-worker/dir_archive.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tuner::worker {
namespace {

namespace fs = std::filesystem;
constexpr size_t kBlock = 512;
using Header = std::array<char, kBlock>;

// An octal field of `width` bytes: digits, then NUL.
void PutOctal(char* field, size_t width, uint64_t value) {
  std::string digits(width - 1, '0');
  for (size_t i = width - 1; i-- > 0 && value > 0; value >>= 3) digits[i] = char('0' + (value & 7));
  std::memcpy(field, digits.data(), width - 1);
  field[width - 1] = '\0';
}

bool ReadOctal(const char* field, size_t width, uint64_t* out) {
  uint64_t value = 0;
  size_t i = 0;
  while (i < width && field[i] == ' ') ++i;
  bool any = false;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
    value = (value << 3) | static_cast<uint64_t>(field[i] - '0');
    any = true;
  }
  for (; i < width; ++i) {
    if (field[i] != '\0' && field[i] != ' ') return false;
  }
  *out = value;
  return any;
}

unsigned Checksum(const Header& h) {
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  }
  return sum;
}

std::string Field(const char* field, size_t width) {
  return std::string(field, strnlen(field, width));
}

// ustar splits a path into prefix (155) '/' name (100).
absl::Status PutPath(Header& h, const std::string& path) {
  if (path.size() <= 100) {
    std::memcpy(h.data(), path.data(), path.size());
    return absl::OkStatus();
  }
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (slash <= 155 && path.size() - slash - 1 <= 100 && slash + 1 < path.size()) {
      std::memcpy(h.data(), path.data() + slash + 1, path.size() - slash - 1);
      std::memcpy(h.data() + 345, path.data(), slash);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("checkpoint file path \"", path, "\" is too long for a tar entry (255 bytes)"));
}

Header MakeHeader(char type, uint64_t size, unsigned mode, int64_t mtime) {
  Header h{};
  PutOctal(h.data() + 100, 8, mode & 07777);
  PutOctal(h.data() + 108, 8, 0);
  PutOctal(h.data() + 116, 8, 0);
  PutOctal(h.data() + 124, 12, size);
  PutOctal(h.data() + 136, 12, static_cast<uint64_t>(std::max<int64_t>(mtime, 0)));
  h[156] = type;
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  return h;
}

void Seal(Header& h) {
  const unsigned sum = Checksum(h);
  PutOctal(h.data() + 148, 7, sum);  // six digits, NUL, then a space, as tar writes
  h[155] = ' ';
}

// A relative path that stays inside the target directory.
absl::StatusOr<fs::path> SafePath(const std::string& name) {
  std::string trimmed = name;
  while (trimmed.size() > 2 && trimmed.compare(0, 2, "./") == 0) trimmed.erase(0, 2);
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  if (trimmed.empty() || trimmed == ".") return fs::path();
  if (trimmed.front() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint archive entry \"", name, "\" is an absolute path"));
  }
  for (absl::string_view part : absl::StrSplit(trimmed, '/')) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint archive entry \"", name, "\" leaves the directory (..)"));
    }
  }
  return fs::path(trimmed);
}

}  // namespace

absl::StatusOr<PackedDirectory> PackDirectory(const std::string& dir,
                                              const std::string& archive_path,
                                              int64_t max_bytes) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat("checkpoint dir ", dir, " is not a directory"));
  }
  std::vector<fs::path> entries;
  for (auto it = fs::recursive_directory_iterator(dir, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    entries.push_back(it->path().lexically_relative(dir));  // symlinks not followed
  }
  if (error) return absl::InternalError(absl::StrCat("listing ", dir, ": ", error.message()));
  std::sort(entries.begin(), entries.end());

  std::ofstream out(archive_path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", archive_path));
  PackedDirectory packed;
  const auto too_big = [&](int64_t bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "checkpoint dir ", dir, " is more than trainer.checkpoint_max_bytes (", max_bytes,
        " bytes) as a tar (at least ", bytes, " bytes)"));
  };
  std::vector<char> buffer(1 << 16);
  for (const fs::path& relative : entries) {
    const fs::path full = fs::path(dir) / relative;
    struct stat st {};
    if (lstat(full.c_str(), &st) != 0) continue;  // removed meanwhile
    std::string name = relative.generic_string();
    char type;
    uint64_t size = 0;
    if (S_ISDIR(st.st_mode)) {
      type = '5';
      name += '/';
    } else if (S_ISREG(st.st_mode)) {
      type = '0';
      size = static_cast<uint64_t>(st.st_size);
    } else {
      packed.skipped.push_back(absl::StrCat(
          name, S_ISLNK(st.st_mode) ? " (a symlink)" : " (not a regular file or directory)"));
      continue;
    }
    const int64_t padded = static_cast<int64_t>((size + kBlock - 1) / kBlock * kBlock);
    const int64_t with_end = packed.bytes + padded + 3 * static_cast<int64_t>(kBlock);
    if (with_end > max_bytes) return too_big(with_end);
    std::ifstream in;
    if (type == '0') {
      in.open(full, std::ios::binary);
      if (!in) return absl::InternalError(absl::StrCat("cannot read ", full.string()));
    }
    Header h = MakeHeader(type, size, st.st_mode, st.st_mtime);
    if (absl::Status s = PutPath(h, name); !s.ok()) return s;
    Seal(h);
    out.write(h.data(), kBlock);
    uint64_t left = size;
    while (left > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
      in.read(buffer.data(), static_cast<std::streamsize>(want));
      if (static_cast<size_t>(in.gcount()) != want) {
        return absl::InternalError(absl::StrCat(full.string(), " shrank while it was packed"));
      }
      out.write(buffer.data(), static_cast<std::streamsize>(want));
      left -= want;
    }
    out.write(std::string(static_cast<size_t>(padded) - size, '\0').data(),
              static_cast<std::streamsize>(static_cast<size_t>(padded) - size));
    packed.bytes += static_cast<int64_t>(kBlock) + padded;
    if (type == '0') ++packed.files;
  }
  // The end: two zero blocks (no padding to a 10 KiB record: readers do not need it and it
  // would push a small cap over its limit).
  out.write(std::string(2 * kBlock, '\0').data(), 2 * kBlock);
  packed.bytes += 2 * kBlock;
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("writing ", archive_path, " failed"));
  return packed;
}

absl::Status UnpackArchive(const std::string& archive_path, const std::string& dir,
                           int64_t max_bytes) {
  std::ifstream in(archive_path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("checkpoint archive ", archive_path, " not found"));
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  const auto damaged = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("checkpoint archive ", archive_path, ": ", why));
  };
  int64_t unpacked = 0;
  std::string long_name;  // from a pax `path` or GNU 'L' record, for the next entry
  std::vector<char> buffer(1 << 16);
  while (true) {
    Header h{};
    in.read(h.data(), kBlock);
    if (in.gcount() == 0) return damaged("ends without its end-of-archive blocks");
    if (static_cast<size_t>(in.gcount()) != kBlock) return damaged("truncated header");
    if (std::all_of(h.begin(), h.end(), [](char c) { return c == '\0'; })) return absl::OkStatus();
    uint64_t sum = 0;
    uint64_t size = 0;
    uint64_t mode = 0644;
    if (!ReadOctal(h.data() + 148, 8, &sum) || sum != Checksum(h)) {
      return damaged("header checksum mismatch (not a tar archive, or damaged)");
    }
    if (!ReadOctal(h.data() + 124, 12, &size)) return damaged("bad size field");
    ReadOctal(h.data() + 100, 8, &mode);
    const char type = h[156];
    std::string name = Field(h.data(), 100);
    if (std::memcmp(h.data() + 257, "ustar", 5) == 0 && h[345] != '\0') {
      name = absl::StrCat(Field(h.data() + 345, 155), "/", name);
    }
    if (!long_name.empty()) name = std::exchange(long_name, "");
    const uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    if (type == 'x' || type == 'g' || type == 'L') {
      if (size > (1 << 20)) return damaged("an extended header over 1 MiB");
      std::string data(padded, '\0');
      in.read(data.data(), static_cast<std::streamsize>(padded));
      if (static_cast<uint64_t>(in.gcount()) != padded) return damaged("truncated extended header");
      data.resize(size);
      if (type == 'L') {
        long_name = std::string(data.c_str());
      } else if (type == 'x') {
        // Records "LEN key=value\n"; only path matters here.
        for (size_t at = 0; at < data.size();) {
          const size_t space = data.find(' ', at);
          if (space == std::string::npos) return damaged("bad pax record");
          const size_t length = std::strtoul(data.c_str() + at, nullptr, 10);
          if (length == 0 || at + length > data.size()) return damaged("bad pax record length");
          const std::string record = data.substr(space + 1, at + length - space - 2);
          if (record.compare(0, 5, "path=") == 0) long_name = record.substr(5);
          at += length;
        }
      }
      continue;
    }
    absl::StatusOr<fs::path> relative = SafePath(name);
    if (!relative.ok()) return relative.status();
    const fs::path target = fs::path(dir) / *relative;
    if (type == '5') {
      fs::create_directories(target, error);
      if (error) return absl::InternalError(absl::StrCat("cannot create ", target.string()));
      continue;
    }
    if (type != '0' && type != '\0' && type != '7') {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint archive entry \"", name, "\" has tar type '", std::string(1, type),
          "'; only regular files and directories are unpacked"));
    }
    unpacked += static_cast<int64_t>(size);
    if (unpacked > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "checkpoint archive ", archive_path, " holds more than ", max_bytes, " bytes"));
    }
    if (relative->empty()) return damaged("a file entry without a name");
    fs::create_directories(target.parent_path(), error);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", target.string()));
    for (uint64_t left = padded; left > 0;) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
      in.read(buffer.data(), static_cast<std::streamsize>(want));
      if (static_cast<size_t>(in.gcount()) != want) return damaged(absl::StrCat(name, " is truncated"));
      const uint64_t done = padded - left;
      if (done < size) {
        out.write(buffer.data(), static_cast<std::streamsize>(std::min<uint64_t>(want, size - done)));
      }
      left -= want;
    }
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("writing ", target.string(), " failed"));
    fs::permissions(target, static_cast<fs::perms>(mode & 0777) | fs::perms::owner_read |
                                fs::perms::owner_write,
                    error);
  }
}

}  // namespace tuner::worker
