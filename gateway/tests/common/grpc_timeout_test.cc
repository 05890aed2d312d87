#include "common/grpc_timeout.h"

#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

TEST(ParseGrpcTimeoutTest, ParsesEveryUnit) {
  EXPECT_EQ(*ParseGrpcTimeout("2H"), absl::Hours(2));
  EXPECT_EQ(*ParseGrpcTimeout("3M"), absl::Minutes(3));
  EXPECT_EQ(*ParseGrpcTimeout("10S"), absl::Seconds(10));
  EXPECT_EQ(*ParseGrpcTimeout("250m"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseGrpcTimeout("7u"), absl::Microseconds(7));
  EXPECT_EQ(*ParseGrpcTimeout("99999999n"), absl::Nanoseconds(99999999));
  EXPECT_EQ(*ParseGrpcTimeout("0m"), absl::ZeroDuration());
}

TEST(ParseGrpcTimeoutTest, RejectsMalformedValues) {
  for (const char* bad : {"", "m", "5", "123456789S", "-1S", "1.5S", "5s", "5x", " 5S"}) {
    absl::StatusOr<absl::Duration> parsed = ParseGrpcTimeout(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseGrpcTimeout("5x").status().message().find("unknown unit"),
            std::string::npos);
}

TEST(FormatGrpcTimeoutTest, PicksTheFinestUnitThatFits) {
  EXPECT_EQ(FormatGrpcTimeout(absl::Nanoseconds(42)), "42n");
  EXPECT_EQ(FormatGrpcTimeout(absl::Milliseconds(250)), "250000u");
  EXPECT_EQ(FormatGrpcTimeout(absl::Seconds(1)), "1000000u");
  EXPECT_EQ(FormatGrpcTimeout(absl::Seconds(100)), "100000m");
  EXPECT_EQ(FormatGrpcTimeout(absl::Hours(30)), "108000S");
  EXPECT_EQ(FormatGrpcTimeout(absl::Hours(200000)), "12000000M");
}

TEST(FormatGrpcTimeoutTest, RoundsUpAndClamps) {
  // 100 s + 1 ns does not fit in nanoseconds or microseconds: milliseconds,
  // rounded up so that the receiver's deadline is never earlier.
  EXPECT_EQ(FormatGrpcTimeout(absl::Seconds(100) + absl::Nanoseconds(1)), "100001m");
  EXPECT_EQ(FormatGrpcTimeout(absl::ZeroDuration()), "0n");
  EXPECT_EQ(FormatGrpcTimeout(-absl::Seconds(1)), "0n");
  EXPECT_EQ(FormatGrpcTimeout(absl::InfiniteDuration()), "99999999H");
}

TEST(GrpcTimeoutTest, FormatThenParseKeepsTheValueWithinOneUnit) {
  for (absl::Duration d : {absl::Microseconds(1234567), absl::Seconds(3600),
                           absl::Milliseconds(1)}) {
    absl::StatusOr<absl::Duration> back = ParseGrpcTimeout(FormatGrpcTimeout(d));
    ASSERT_TRUE(back.ok());
    EXPECT_GE(*back, d);
  }
}

}  // namespace
}  // namespace polymesh::gateway
