// common/sha256: NIST known answers (FIPS 180-2, appendix B) through OpenSSL, whole and
// streamed in uneven pieces.
#include "common/sha256.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace tuner {
namespace {

TEST(Sha256, MatchesTheNistKnownAnswers) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, StreamedInPiecesGivesTheSameDigest) {
  const std::string million(1000000, 'a');
  // Pieces around the 64-byte block size, an empty one among them.
  const size_t pieces[] = {0, 1, 55, 56, 63, 64, 65, 1000, 4097};
  Sha256 hasher;
  for (size_t at = 0, i = 0; at < million.size(); ++i) {
    const size_t take = std::min(pieces[i % std::size(pieces)], million.size() - at);
    hasher.Update(million.data() + at, take);
    at += take;
  }
  EXPECT_EQ(hasher.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  Sha256 empty;
  empty.Update(nullptr, 0);
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace tuner
