// common/utf8: the validity rules protobuf applies to string fields, truncation on a
// character boundary, and repair with U+FFFD.
#include "common/utf8.h"

#include "gtest/gtest.h"

namespace tuner {
namespace {

TEST(Utf8, ValidTextIsValid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii\n"));
  EXPECT_TRUE(IsValidUtf8("na\xC3\xAFve \xE2\x82\xAC \xF0\x9F\x98\x80"));  // ï € 😀
  EXPECT_TRUE(IsValidUtf8(std::string("nul\0inside", 10)));
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
}

TEST(Utf8, InvalidSequencesAreFoundAtTheirFirstByte) {
  EXPECT_EQ(FirstInvalidUtf8("ab\xFF"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("\x80"), 0u);                 // a lone continuation byte
  EXPECT_EQ(FirstInvalidUtf8("x\xE2\x82"), 1u);            // cut inside a character
  EXPECT_EQ(FirstInvalidUtf8("\xC0\xAF"), 0u);             // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xE0\x80\xAF"), 0u);         // overlong, three bytes
  EXPECT_EQ(FirstInvalidUtf8("\xED\xA0\x80"), 0u);         // a surrogate (U+D800)
  EXPECT_EQ(FirstInvalidUtf8("\xF4\x90\x80\x80"), 0u);     // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(FirstInvalidUtf8("ok\xC3\xA9\xC3"), 4u);
}

TEST(Utf8, TruncationNeverCutsACharacter) {
  const std::string euros = "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";  // 3 x 3 bytes
  EXPECT_EQ(TruncateUtf8(euros, 9), euros);
  EXPECT_EQ(TruncateUtf8(euros, 100), euros);
  EXPECT_EQ(TruncateUtf8(euros, 8), euros.substr(0, 6));
  EXPECT_EQ(TruncateUtf8(euros, 7), euros.substr(0, 6));
  EXPECT_EQ(TruncateUtf8(euros, 6), euros.substr(0, 6));
  EXPECT_EQ(TruncateUtf8(euros, 2), "");
  EXPECT_EQ(TruncateUtf8("abc", 2), "ab");
  EXPECT_EQ(TruncateUtf8("\xF0\x9F\x98\x80!", 4), "\xF0\x9F\x98\x80");
  for (size_t n = 0; n <= euros.size(); ++n) EXPECT_TRUE(IsValidUtf8(TruncateUtf8(euros, n)));
}

TEST(Utf8, RepairReplacesEachInvalidByteAndKeepsTheRest) {
  EXPECT_EQ(RepairUtf8("fine \xC3\xA9"), "fine \xC3\xA9");
  EXPECT_EQ(RepairUtf8("cut \xE2\x82"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(RepairUtf8("\xFF" "a\xC3\xA9"), "\xEF\xBF\xBD" "a\xC3\xA9");
  EXPECT_TRUE(IsValidUtf8(RepairUtf8("\xED\xA0\x80\xC0\xAF\xF8")));
}

}  // namespace
}  // namespace tuner
