// tuner-server/pagination.h on plain values: page_size rules, token round trips and refusals,
// and where a page ends.
#include "tuner-server/pagination.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tuner::server {
namespace {

using ::testing::HasSubstr;

TEST(Pagination, PageSizeZeroIsTheDefaultAndOneToMaxIsTaken) {
  EXPECT_EQ(*CheckPageSize(0, 100, 1000), 100);
  EXPECT_EQ(*CheckPageSize(1, 100, 1000), 1);
  EXPECT_EQ(*CheckPageSize(1000, 100, 1000), 1000);
}

TEST(Pagination, NegativeOrTooLargePageSizeIsInvalidArgumentNamingPageSize) {
  for (int32_t size : {-1, 1001, INT32_MIN, INT32_MAX}) {
    absl::StatusOr<int32_t> checked = CheckPageSize(size, 100, 1000);
    ASSERT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_THAT(checked.status().message(), HasSubstr("page_size: must be 0 (the default, 100) "
                                                      "or 1 to 1000 (got " +
                                                      std::to_string(size) + ")"));
  }
}

TEST(Pagination, ATokenRoundTripsItsKeyAndIsOpaque) {
  for (int64_t key : {int64_t{0}, int64_t{1}, int64_t{123456789}, INT64_MAX}) {
    const std::string token = EncodePageToken("studies", key);
    EXPECT_EQ(token.find("studies"), std::string::npos) << token;  // not readable as is
    absl::StatusOr<std::optional<int64_t>> decoded = DecodePageToken(token, "studies");
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(**decoded, key);
  }
  absl::StatusOr<std::optional<int64_t>> first = DecodePageToken("", "studies");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
}

TEST(Pagination, AMalformedTokenIsInvalidArgumentNamingPageToken) {
  const std::string bad[] = {"!!!", "c3R1ZGllcw", EncodePageToken("studies", 1) + "A",
                             EncodePageToken("studies", 1).substr(1), "dHVuZXIudjEucGFnZXxzdHVkaWVzfC0x",
                             "dHVuZXIudjEucGFnZXxzdHVkaWVzfDE5YQ"};
  for (const std::string& token : bad) {
    absl::StatusOr<std::optional<int64_t>> decoded = DecodePageToken(token, "studies");
    ASSERT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(decoded.status().message(), HasSubstr("page_token: ")) << token;
  }
}

TEST(Pagination, ATokenOfAnotherListIsInvalidArgument) {
  absl::StatusOr<std::optional<int64_t>> decoded =
      DecodePageToken(EncodePageToken("trials of study 3", 7), "trials of study 4");
  ASSERT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(),
              HasSubstr("page_token: continues another list, not trials of study 4"));
  EXPECT_EQ(DecodePageToken(EncodePageToken("studies", 7), "trials of study 4").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Pagination, APageEndsAtItsItemCountOrItsBytesButTakesOneItemWhateverItsSize) {
  PageBudget by_count(3, 1000);
  EXPECT_TRUE(by_count.Take(10));
  EXPECT_TRUE(by_count.Take(10));
  EXPECT_TRUE(by_count.HasRoom());
  EXPECT_TRUE(by_count.Take(10));
  EXPECT_FALSE(by_count.HasRoom());
  EXPECT_FALSE(by_count.Take(10));
  EXPECT_EQ(by_count.items(), 3);

  PageBudget by_bytes(100, 1000);
  EXPECT_TRUE(by_bytes.Take(600));
  EXPECT_FALSE(by_bytes.Take(500));  // would pass 1000
  EXPECT_TRUE(by_bytes.Take(400));   // exactly 1000
  EXPECT_FALSE(by_bytes.HasRoom());
  EXPECT_EQ(by_bytes.bytes(), 1000u);

  PageBudget huge(100, 1000);
  EXPECT_TRUE(huge.Take(5000));  // the first item alone
  EXPECT_FALSE(huge.Take(1));
}

}  // namespace
}  // namespace tuner::server
