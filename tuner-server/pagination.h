// Pagination for ListStudies and ListTrials (issue 13 row 9): page_size checks, opaque page
// tokens, and the byte bound that keeps every reply far below gRPC's 4 MiB default receive
// limit whatever the specs and trials hold. Pure: no I/O, no locks, no clock.
//
// A token says which list it continues and the last key (study id, trial number) the page
// held; keys only grow, so the next page starts after it and nothing is listed twice or
// skipped while studies and trials are added between pages.
#ifndef TUNER_TUNER_SERVER_PAGINATION_H_
#define TUNER_TUNER_SERVER_PAGINATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace tuner::server {

inline constexpr int32_t kDefaultStudiesPageSize = 100;
inline constexpr int32_t kMaxStudiesPageSize = 1000;
inline constexpr int32_t kDefaultTrialsPageSize = 1000;
inline constexpr int32_t kMaxTrialsPageSize = 10000;
// A page takes no further item once its items add up to this many bytes (serialized). The
// first item is always taken, so a page is at most max(kMaxPageBytes, one item).
inline constexpr size_t kMaxPageBytes = 1 << 20;

// The page size a request asks for: 0 means default_size; a negative value or one above
// max_size is INVALID_ARGUMENT naming page_size, the value and the allowed range.
absl::StatusOr<int32_t> CheckPageSize(int32_t page_size, int32_t default_size, int32_t max_size);

// The token for the page after the one that ended at last_key, in the list named by `list`
// ("studies", "trials of study 7"): unpadded web-safe base64, opaque to clients.
std::string EncodePageToken(const std::string& list, int64_t last_key);

// The last key of the previous page; nullopt for an empty token (the first page). A token
// that is not base64, not one of ours, or from another list is INVALID_ARGUMENT naming
// page_token.
absl::StatusOr<std::optional<int64_t>> DecodePageToken(const std::string& token,
                                                       const std::string& list);

// Where a page ends. Not thread-safe; one per request.
class PageBudget {
 public:
  explicit PageBudget(int32_t max_items, size_t max_bytes = kMaxPageBytes)
      : max_items_(max_items), max_bytes_(max_bytes) {}

  // True when the page has room for one more item (fewer than max_items, under max_bytes).
  bool HasRoom() const { return items_ < max_items_ && bytes_ < max_bytes_; }
  // Whether an item of item_bytes joins the page: always for the first item, else when it
  // keeps the page within max_bytes and max_items. Counts it when it does.
  bool Take(size_t item_bytes);
  int32_t items() const { return items_; }
  size_t bytes() const { return bytes_; }

 private:
  const int32_t max_items_;
  const size_t max_bytes_;
  int32_t items_ = 0;
  size_t bytes_ = 0;
};

// What one repeated-message element adds to a reply: its size plus tag and length prefix.
inline size_t ElementBytes(size_t message_bytes) { return message_bytes + 1 + 5; }

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_PAGINATION_H_
