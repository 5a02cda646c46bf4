// SHA-256 for checkpoint integrity: the server stores each checkpoint's digest and workers
// verify downloads against it. OpenSSL's libcrypto (EVP) does the hashing; this wrapper only
// keeps callers free of OpenSSL headers and gives the digest as hex.
#ifndef TUNER_COMMON_SHA256_H_
#define TUNER_COMMON_SHA256_H_

#include <cstddef>
#include <memory>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace tuner {

// Incremental hasher. Thread-compatible. Move-only: it owns an OpenSSL digest context.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  // Lower-case hex digest. Call once; the hasher is spent afterwards.
  std::string HexDigest();

 private:
  struct ContextDeleter {
    void operator()(evp_md_ctx_st* context) const;
  };
  std::unique_ptr<evp_md_ctx_st, ContextDeleter> context_;
};

// Digest of a whole string.
std::string Sha256Hex(const std::string& data);

}  // namespace tuner

#endif  // TUNER_COMMON_SHA256_H_
