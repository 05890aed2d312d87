#include "common/grpc_status.h"

#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

TEST(GrpcStatusNameTest, NamesEveryCode) {
  EXPECT_EQ(GrpcStatusName(GrpcStatus::kOk), "OK");
  EXPECT_EQ(GrpcStatusName(GrpcStatus::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(GrpcStatusName(GrpcStatus::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcStatusName(17), "UNKNOWN");
  EXPECT_EQ(GrpcStatusName(-1), "UNKNOWN");
}

TEST(GrpcStatusFromHttp2ErrorTest, FollowsTheGrpcSpec) {
  EXPECT_EQ(GrpcStatusFromHttp2Error(0x7), GrpcStatus::kUnavailable);
  EXPECT_EQ(GrpcStatusFromHttp2Error(0x8), GrpcStatus::kCancelled);
  EXPECT_EQ(GrpcStatusFromHttp2Error(0xb), GrpcStatus::kResourceExhausted);
  EXPECT_EQ(GrpcStatusFromHttp2Error(0xc), GrpcStatus::kPermissionDenied);
  EXPECT_EQ(GrpcStatusFromHttp2Error(0x0), GrpcStatus::kInternal);
  EXPECT_EQ(GrpcStatusFromHttp2Error(0x2), GrpcStatus::kInternal);
}

TEST(PercentEncodeGrpcMessageTest, EncodesPercentAndNonPrintableBytes) {
  EXPECT_EQ(PercentEncodeGrpcMessage("no route for \"/a.B/C\""),
            "no route for \"/a.B/C\"");
  EXPECT_EQ(PercentEncodeGrpcMessage("100%\n\xc3\xa9"), "100%25%0A%C3%A9");
}

}  // namespace
}  // namespace polymesh::gateway
