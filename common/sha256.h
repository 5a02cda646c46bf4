// SHA-256 (FIPS 180-4) for checkpoint integrity: the server stores each checkpoint's digest and
// workers verify downloads against it. Small and dependency-free on purpose.
#ifndef TUNER_COMMON_SHA256_H_
#define TUNER_COMMON_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tuner {

// Incremental hasher. Thread-compatible.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  // Lower-case hex digest. Call once; the hasher is spent afterwards.
  std::string HexDigest();

 private:
  void Block(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Digest of a whole string.
std::string Sha256Hex(const std::string& data);

}  // namespace tuner

#endif  // TUNER_COMMON_SHA256_H_
