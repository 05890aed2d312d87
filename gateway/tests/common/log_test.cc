#include "common/log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(FormatLogLineTest, WritesOneJsonObject) {
  const std::string line =
      FormatLogLine(LogLevel::kInfo, "gateway started", {{"listener", "127.0.0.1:8080"}});
  EXPECT_THAT(line, MatchesRegex(R"(\{"time":"[0-9T:.Z-]+","level":"info",.*)"));
  EXPECT_THAT(line, HasSubstr(R"("msg":"gateway started","fields":{"listener":"127.0.0.1:8080"}})"));
}

TEST(FormatLogLineTest, EscapesStrings) {
  const std::string line = FormatLogLine(LogLevel::kError, "bad \"config\"\n",
                                         {{"error", "a\\b\tc\x01"}});
  EXPECT_THAT(line, HasSubstr(R"("msg":"bad \"config\"\n")"));
  EXPECT_THAT(line, HasSubstr(R"("error":"a\\b\tc\u0001")"));
  EXPECT_THAT(line, HasSubstr(R"("level":"error")"));
}

}  // namespace
}  // namespace polymesh::gateway
