// UTF-8 checks shared by the server and storage. Protobuf `string` fields must hold valid
// UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) or a reply that
// carries them fails to parse on every client; these helpers keep stored text valid.
#ifndef TUNER_COMMON_UTF8_H_
#define TUNER_COMMON_UTF8_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tuner {

// The offset of the first byte that does not start a valid sequence; nullopt when all of
// text is valid UTF-8.
std::optional<size_t> FirstInvalidUtf8(std::string_view text);

inline bool IsValidUtf8(std::string_view text) { return !FirstInvalidUtf8(text).has_value(); }

// The longest prefix of text of at most max_bytes that does not end inside a character.
// Text that is valid UTF-8 stays valid.
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

// text with each invalid byte replaced by U+FFFD; text itself when it is valid.
std::string RepairUtf8(std::string_view text);

}  // namespace tuner

#endif  // TUNER_COMMON_UTF8_H_
