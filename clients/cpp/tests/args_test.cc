#include "args.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<FlagSpec> kFlags = {
    {"target", 0, FlagSpec::kValue},
    {"header", 'H', FlagSpec::kRepeated},
    {"list", 0, FlagSpec::kSwitch},
    {"verbose", 'v', FlagSpec::kSwitch},
};

TEST(ParseArgsTest, FlagsInEveryFormAndPositionals) {
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(kFlags, {"--target", "a:1", "-H", "k: v", "M", "-Hx:y", "--header=z: w",
                         "--target=b:2", "-v", "{}"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Value("target"), "b:2");  // the last one wins
  EXPECT_THAT(args->Values("header"), ElementsAre("k: v", "x:y", "z: w"));
  EXPECT_TRUE(args->Has("verbose"));
  EXPECT_FALSE(args->Has("list"));
  EXPECT_EQ(args->Value("list"), std::nullopt);
  EXPECT_THAT(args->positional(), ElementsAre("M", "{}"));
}

TEST(ParseArgsTest, DoubleDashEndsFlagsAndDashIsPositional) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(kFlags, {"M", "-", "--", "--list"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_FALSE(args->Has("list"));
  EXPECT_THAT(args->positional(), ElementsAre("M", "-", "--list"));
}

TEST(ParseArgsTest, ErrorsNameTheFlag) {
  EXPECT_THAT(ParseArgs(kFlags, {"--nope"}).status().message(), HasSubstr("unknown flag --nope"));
  EXPECT_THAT(ParseArgs(kFlags, {"-x"}).status().message(), HasSubstr("unknown flag -x"));
  EXPECT_THAT(ParseArgs(kFlags, {"--target"}).status().message(),
              HasSubstr("--target needs a value"));
  EXPECT_THAT(ParseArgs(kFlags, {"--list=yes"}).status().message(),
              HasSubstr("--list takes no value"));
}

TEST(ParseDurationValueTest, UnitsAndBareSeconds) {
  EXPECT_EQ(*ParseDurationValue("d", "2s"), absl::Seconds(2));
  EXPECT_EQ(*ParseDurationValue("d", "250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDurationValue("d", "1m30s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDurationValue("d", "1.5"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDurationValue("d", "0"), absl::ZeroDuration());
  EXPECT_THAT(ParseDurationValue("deadline", "soon").status().message(),
              HasSubstr("--deadline takes a duration"));
  EXPECT_FALSE(ParseDurationValue("d", "-1s").ok());
  EXPECT_FALSE(ParseDurationValue("d", "inf").ok());
}

TEST(ParseNumbersTest, Bounds) {
  EXPECT_EQ(*ParseIntValue("n", "5", 1, 10), 5);
  EXPECT_THAT(ParseIntValue("connections", "0", 1, 10).status().message(),
              HasSubstr("--connections takes a whole number from 1 to 10"));
  EXPECT_FALSE(ParseIntValue("n", "2.5", 1, 10).ok());
  EXPECT_DOUBLE_EQ(*ParseDoubleValue("rate", "2.5", 0.001, 10), 2.5);
  EXPECT_FALSE(ParseDoubleValue("rate", "0", 0.001, 10).ok());
  EXPECT_FALSE(ParseDoubleValue("rate", "nan", 0.001, 10).ok());
}

TEST(ParseHostPortTest, HostsAndIpv6) {
  absl::StatusOr<HostPort> v4 = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  EXPECT_EQ(v4->authority, "127.0.0.1:8080");
  absl::StatusOr<HostPort> v6 = ParseHostPort("[::1]:50051");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 50051);
  EXPECT_EQ(v6->authority, "[::1]:50051");
  for (const char* bad : {"localhost", ":80", "host:0", "host:70000", "::1:80", "[::1]80"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
}

TEST(ParseMetadataTest, KeysAreLowerCasedAndValuesTrimmed) {
  absl::StatusOr<MetadataEntry> entry = ParseMetadata("X-Tenant:  acme ");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->key, "x-tenant");
  EXPECT_EQ(entry->value, "acme");
  entry = ParseMetadata("authorization=Bearer a:b");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->key, "authorization");
  EXPECT_EQ(entry->value, "Bearer a:b");
  EXPECT_TRUE(ParseMetadata("trace-bin: AAEC").ok());
}

TEST(ParseMetadataTest, RejectsReservedAndMalformed) {
  EXPECT_THAT(ParseMetadata("grpc-timeout: 1S").status().message(), HasSubstr("reserved"));
  EXPECT_THAT(ParseMetadata("te: trailers").status().message(), HasSubstr("reserved"));
  EXPECT_THAT(ParseMetadata("novalue").status().message(), HasSubstr("key: value"));
  EXPECT_THAT(ParseMetadata("bad key: v").status().message(), HasSubstr("may only hold"));
  EXPECT_THAT(ParseMetadata("x-bin: not base64!").status().message(), HasSubstr("base64"));
  EXPECT_THAT(ParseMetadata("x: caf\xc3\xa9").status().message(), HasSubstr("printable ASCII"));
}

}  // namespace
}  // namespace polymesh::cli
