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

TEST(PercentDecodeGrpcMessageTest, DecodesEscapesOfEitherCase) {
  EXPECT_EQ(PercentDecodeGrpcMessage("100%25%0A%C3%A9"), "100%\n\xc3\xa9");
  EXPECT_EQ(PercentDecodeGrpcMessage("%c3%a9t%C3%A9"), "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(PercentDecodeGrpcMessage("plain text"), "plain text");
}

TEST(PercentDecodeGrpcMessageTest, KeepsMalformedEscapesAsTheyAre) {
  for (const char* value : {"%", "%4", "50%", "%zz", "a%4g", "%%41"}) {
    const std::string expected = std::string(value) == "%%41" ? "%A" : value;
    EXPECT_EQ(PercentDecodeGrpcMessage(value), expected) << value;
  }
}

TEST(PercentDecodeGrpcMessageTest, GivesBackWhatWasEncoded) {
  std::string every_byte;
  for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
  EXPECT_EQ(PercentDecodeGrpcMessage(PercentEncodeGrpcMessage(every_byte)), every_byte);
}

}  // namespace
}  // namespace polymesh::gateway
