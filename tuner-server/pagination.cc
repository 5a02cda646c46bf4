#include "tuner-server/pagination.h"

#include <charconv>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tuner::server {
namespace {

// Tokens start with this so a token of another kind (or another version) is told apart.
constexpr char kTokenPrefix[] = "tuner.v1.page|";

absl::Status NotOurs() {
  return absl::InvalidArgumentError(
      "page_token: is not a token this server gave (pass the previous reply's next_page_token "
      "unchanged, or leave it empty for the first page)");
}

}  // namespace

absl::StatusOr<int32_t> CheckPageSize(int32_t page_size, int32_t default_size, int32_t max_size) {
  if (page_size == 0) return default_size;
  if (page_size < 0 || page_size > max_size) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be 0 (the default, ",
                                                   default_size, ") or 1 to ", max_size,
                                                   " (got ", page_size, ")"));
  }
  return page_size;
}

std::string EncodePageToken(const std::string& list, int64_t last_key) {
  return absl::WebSafeBase64Escape(absl::StrCat(kTokenPrefix, list, "|", last_key));
}

absl::StatusOr<std::optional<int64_t>> DecodePageToken(const std::string& token,
                                                       const std::string& list) {
  if (token.empty()) return std::nullopt;
  std::string text;
  if (!absl::WebSafeBase64Unescape(token, &text)) return NotOurs();
  const std::string prefix = kTokenPrefix;
  if (text.compare(0, prefix.size(), prefix) != 0) return NotOurs();
  const std::string rest = text.substr(prefix.size());
  const size_t bar = rest.rfind('|');
  if (bar == std::string::npos) return NotOurs();
  const std::string token_list = rest.substr(0, bar);
  const std::string key_text = rest.substr(bar + 1);
  int64_t key = 0;
  const auto [end, ec] = std::from_chars(key_text.data(), key_text.data() + key_text.size(), key);
  if (ec != std::errc() || end != key_text.data() + key_text.size() || key < 0) return NotOurs();
  if (token_list != list) {
    // The token's own list is not echoed: it came from the client.
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: continues another list, not ", list,
        " (a token is only valid for the request that returned it)"));
  }
  return key;
}

bool PageBudget::Take(size_t item_bytes) {
  if (items_ > 0 && (items_ >= max_items_ || bytes_ + item_bytes > max_bytes_)) return false;
  ++items_;
  bytes_ += item_bytes;
  return true;
}

}  // namespace tuner::server
