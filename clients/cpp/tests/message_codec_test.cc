#include "message_codec.h"

#include <memory>
#include <string>

#include "call_command.h"
#include "cli_common.h"
#include "contracts/contract_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "polymesh/testing/v1/echo.pb.h"

namespace polymesh::cli {
namespace {

using ::polymesh::testing::v1::UnaryRequest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class MessageCodecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> registry = LoadRegistry({});
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    absl::StatusOr<const google::protobuf::MethodDescriptor*> method =
        FindMethod(*registry_, "polymesh.testing.v1.EchoService.Unary");
    ASSERT_TRUE(method.ok()) << method.status();
    method_ = *method;
  }

  std::unique_ptr<gateway::ContractRegistry> registry_;
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  MessageCodec codec_;
};

TEST_F(MessageCodecTest, JsonBecomesTheBinaryOfTheGeneratedType) {
  absl::StatusOr<std::string> bytes = codec_.JsonToBinary(
      *method_->input_type(),
      R"({"text": "hi", "payload": "AAEC", "instruction": {"failCode": 5, "delay_ms": 7}})");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  UnaryRequest request;
  ASSERT_TRUE(request.ParseFromString(*bytes));
  EXPECT_EQ(request.text(), "hi");
  EXPECT_EQ(request.payload(), std::string("\x00\x01\x02", 3));
  EXPECT_EQ(request.instruction().fail_code(), 5);
  EXPECT_EQ(request.instruction().delay_ms(), 7);  // proto field names are accepted too
}

TEST_F(MessageCodecTest, BinaryBecomesJsonCompactPrettyOrWithDefaults) {
  UnaryRequest request;
  request.set_text("hi");
  const std::string bytes = request.SerializeAsString();
  EXPECT_EQ(*codec_.BinaryToJson(*method_->input_type(), bytes, JsonStyle{}), R"({"text":"hi"})");
  JsonStyle pretty;
  pretty.pretty = true;
  EXPECT_EQ(*codec_.BinaryToJson(*method_->input_type(), bytes, pretty),
            "{\n \"text\": \"hi\"\n}");
  JsonStyle defaults;
  defaults.emit_defaults = true;
  EXPECT_THAT(*codec_.BinaryToJson(*method_->input_type(), bytes, defaults),
              HasSubstr(R"("payload":"")"));
}

TEST_F(MessageCodecTest, ErrorsNameTheType) {
  EXPECT_THAT(codec_.JsonToBinary(*method_->input_type(), R"({"nope": 1})").status().message(),
              HasSubstr("the JSON is not a polymesh.testing.v1.UnaryRequest"));
  EXPECT_EQ(codec_.JsonToBinary(*method_->input_type(), "not json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec_.BinaryToJson(*method_->input_type(), "\xff\xff\xff", JsonStyle{})
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(SplitJsonLinesTest, OneObjectPerLineOrOneWholeObject) {
  EXPECT_THAT(SplitJsonLines("{\"a\": 1}\n\n  {\"b\": 2}  \n"),
              ElementsAre("{\"a\": 1}", "{\"b\": 2}"));
  EXPECT_THAT(SplitJsonLines("{\n  \"a\": 1\n}\n"), ElementsAre("{\n  \"a\": 1\n}"));
  EXPECT_THAT(SplitJsonLines(" \n\n"), ElementsAre());
}

TEST_F(MessageCodecTest, MethodPaths) {
  EXPECT_EQ(MethodPath(*method_), "/polymesh.testing.v1.EchoService/Unary");
  EXPECT_EQ(MethodPath("pkg.Svc.M"), "/pkg.Svc/M");
  EXPECT_EQ(MethodPath("pkg.Svc/M"), "/pkg.Svc/M");
  EXPECT_EQ(MethodPath("/pkg.Svc/M"), "/pkg.Svc/M");
}

TEST_F(MessageCodecTest, StatusDetailsAreDecoded) {
  // google.rpc.Status{code: 3, message: "bad", details: [Any{UnaryRequest{text: "x"}},
  // Any{unknown type}]}
  UnaryRequest detail;
  detail.set_text("x");
  const std::string known_url = "type.googleapis.com/polymesh.testing.v1.UnaryRequest";
  const std::string any1 = std::string("\x0a") + static_cast<char>(known_url.size()) + known_url +
                           "\x12" + static_cast<char>(detail.ByteSizeLong()) +
                           detail.SerializeAsString();
  const std::string unknown_url = "type.googleapis.com/x.Unknown";
  const std::string any2 = std::string("\x0a") + static_cast<char>(unknown_url.size()) +
                           unknown_url + "\x12\x02zz";
  const std::string status = std::string("\x08\x03\x12\x03" "bad") + "\x1a" +
                             static_cast<char>(any1.size()) + any1 + "\x1a" +
                             static_cast<char>(any2.size()) + any2;
  EXPECT_EQ(DescribeStatusDetails(*registry_, status),
            "  details: code 3, message \"bad\"\n"
            "  detail type.googleapis.com/polymesh.testing.v1.UnaryRequest: {\"text\":\"x\"}\n"
            "  detail type.googleapis.com/x.Unknown: 2 bytes\n");
  EXPECT_EQ(DescribeStatusDetails(*registry_, ""), "");
  EXPECT_THAT(DescribeStatusDetails(*registry_, "\xff\xff"),
              HasSubstr("2 bytes that are not a google.rpc.Status"));
}

}  // namespace
}  // namespace polymesh::cli
