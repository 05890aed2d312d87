#include "common/log.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(FormatLogLineTest, WritesTheSharedShapeWithAttributesAtTheTop) {
  const std::string line = FormatLogLine(
      LogLevel::kInfo, "ready", {{"address", "127.0.0.1:8080"}, {"workers", "2"}},
      "polymesh-gateway");
  EXPECT_THAT(line, MatchesRegex(R"(\{"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2})"
                                 R"(:[0-9]{2}\.[0-9]{6}Z","severity":"INFO",.*)"));
  EXPECT_THAT(line, HasSubstr(R"("severity":"INFO","body":"ready",)"
                              R"("service.name":"polymesh-gateway",)"
                              R"("address":"127.0.0.1:8080","workers":"2"})"));
  EXPECT_THAT(line, Not(HasSubstr("fields")));
  EXPECT_THAT(line, Not(HasSubstr("trace_id")));
  EXPECT_THAT(line, Not(HasSubstr("span_id")));
}

TEST(FormatLogLineTest, NamesSeveritiesAsOpenTelemetryDoes) {
  EXPECT_THAT(FormatLogLine(LogLevel::kDebug, "m", {}, "s"), HasSubstr(R"("severity":"DEBUG")"));
  EXPECT_THAT(FormatLogLine(LogLevel::kInfo, "m", {}, "s"), HasSubstr(R"("severity":"INFO")"));
  EXPECT_THAT(FormatLogLine(LogLevel::kWarning, "m", {}, "s"), HasSubstr(R"("severity":"WARN")"));
  EXPECT_THAT(FormatLogLine(LogLevel::kError, "m", {}, "s"), HasSubstr(R"("severity":"ERROR")"));
  EXPECT_THAT(FormatLogLine(LogLevel::kFatal, "m", {}, "s"), HasSubstr(R"("severity":"FATAL")"));
}

TEST(FormatLogLineTest, EndsAfterTheServiceNameWithoutAttributes) {
  EXPECT_THAT(FormatLogLine(LogLevel::kInfo, "gateway stopped", {}, "edge"),
              HasSubstr(R"("body":"gateway stopped","service.name":"edge"})"));
}

TEST(FormatLogLineTest, EscapesStrings) {
  const std::string line = FormatLogLine(LogLevel::kError, "bad \"config\"\n",
                                         {{"error", "a\\b\tc\x01"}}, "polymesh-gateway");
  EXPECT_THAT(line, HasSubstr(R"("body":"bad \"config\"\n")"));
  EXPECT_THAT(line, HasSubstr(R"("error":"a\\b\tc\u0001")"));
  EXPECT_THAT(line, HasSubstr(R"("severity":"ERROR")"));
}

TEST(FormatLogLineTest, KeepsTheLineKeysItsOwn) {
  const std::string line =
      FormatLogLine(LogLevel::kInfo, "m", {{"body", "x"}, {"service.name", "y"}}, "s");
  EXPECT_THAT(line, HasSubstr(R"("body":"m","service.name":"s",)"
                              R"("attributes.body":"x","attributes.service.name":"y"})"));
}

TEST(LogServiceNameTest, IsTheEnvironmentsOrTheGateways) {
  const char* set = std::getenv("OTEL_SERVICE_NAME");
  EXPECT_EQ(LogServiceName(),
            set != nullptr && *set != '\0' ? std::string(set) : std::string("polymesh-gateway"));
  EXPECT_THAT(FormatLogLine(LogLevel::kInfo, "m", {}),
              HasSubstr(absl::StrCat(R"("service.name":")", LogServiceName(), R"("})")));
}

}  // namespace
}  // namespace polymesh::gateway
