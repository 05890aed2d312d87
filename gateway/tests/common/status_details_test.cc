#include "common/status_details.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

// A minimal protobuf wire reader for the test: the fields of one message.
struct Field {
  uint32_t number;
  uint64_t varint = 0;
  std::string bytes;
};

uint64_t ReadVarint(absl::string_view& in) {
  uint64_t value = 0;
  for (int shift = 0; !in.empty(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  return value;
}

std::vector<Field> Fields(absl::string_view in) {
  std::vector<Field> fields;
  while (!in.empty()) {
    const uint64_t tag = ReadVarint(in);
    Field field{.number = static_cast<uint32_t>(tag >> 3)};
    if ((tag & 7) == 0) {
      field.varint = ReadVarint(in);
    } else {
      EXPECT_EQ(tag & 7, 2u);
      const uint64_t length = ReadVarint(in);
      field.bytes = std::string(in.substr(0, length));
      in.remove_prefix(length);
    }
    fields.push_back(field);
  }
  return fields;
}

TEST(StatusDetailsTest, WritesStatusWithRetryInfoAndQuotaFailure) {
  const std::string status = RateLimitedStatus(GrpcStatus::kResourceExhausted, "slow down",
                                               absl::Milliseconds(1250), "demo", "ai: 5/s");
  const std::vector<Field> fields = Fields(status);
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].number, 1u);
  EXPECT_EQ(fields[0].varint, 8u);  // RESOURCE_EXHAUSTED
  EXPECT_EQ(fields[1].number, 2u);
  EXPECT_EQ(fields[1].bytes, "slow down");

  const std::vector<Field> retry_any = Fields(fields[2].bytes);
  ASSERT_EQ(retry_any.size(), 2u);
  EXPECT_EQ(retry_any[0].bytes, "type.googleapis.com/google.rpc.RetryInfo");
  const std::vector<Field> retry_info = Fields(retry_any[1].bytes);
  ASSERT_EQ(retry_info.size(), 1u);
  const std::vector<Field> duration = Fields(retry_info[0].bytes);
  ASSERT_EQ(duration.size(), 2u);
  EXPECT_EQ(duration[0].varint, 1u);           // seconds
  EXPECT_EQ(duration[1].varint, 250000000u);   // nanos

  const std::vector<Field> quota_any = Fields(fields[3].bytes);
  ASSERT_EQ(quota_any.size(), 2u);
  EXPECT_EQ(quota_any[0].bytes, "type.googleapis.com/google.rpc.QuotaFailure");
  const std::vector<Field> violation = Fields(Fields(quota_any[1].bytes)[0].bytes);
  ASSERT_EQ(violation.size(), 2u);
  EXPECT_EQ(violation[0].bytes, "demo");
  EXPECT_EQ(violation[1].bytes, "ai: 5/s");
}

TEST(StatusDetailsTest, LeavesOutZeroFields) {
  const std::vector<Field> fields =
      Fields(RateLimitedStatus(GrpcStatus::kResourceExhausted, "", absl::Seconds(2), "a", "b"));
  ASSERT_EQ(fields.size(), 3u);  // no message
  const std::vector<Field> duration = Fields(Fields(Fields(fields[1].bytes)[1].bytes)[0].bytes);
  ASSERT_EQ(duration.size(), 1u);  // no nanos
  EXPECT_EQ(duration[0].varint, 2u);
}

}  // namespace
}  // namespace polymesh::gateway
