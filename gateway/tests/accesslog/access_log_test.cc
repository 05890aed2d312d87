#include "accesslog/access_log.h"

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::SizeIs;

AccessRecord Record(int i) {
  AccessRecord r;
  r.start = absl::FromUnixMicros(1'700'000'000'123'456);
  r.method = "polymesh.ai.v1.AIService/Predict";
  r.route = "ai";
  r.cluster = "aiapi";
  r.endpoint = "127.0.0.1:50051";
  r.grpc_status = i % 2 == 0 ? 0 : 5;
  r.duration = absl::Microseconds(1234);
  r.request_bytes = 52;
  r.response_bytes = 120;
  r.attempts = 2;
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(AccessLogTest, FormatsOneJsonLine) {
  EXPECT_EQ(FormatAccessRecord(Record(1)),
            R"({"time":"2023-11-14T22:13:20.123456Z","method":"polymesh.ai.v1.AIService/Predict",)"
            R"("route":"ai","cluster":"aiapi","endpoint":"127.0.0.1:50051","status":"NOT_FOUND",)"
            R"("grpc_status":5,"duration_ms":1.234,"request_bytes":52,"response_bytes":120,)"
            R"("attempts":2,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"})"
            "\n");
}

TEST(AccessLogTest, EscapesWhatAClientSent) {
  AccessRecord r = Record(0);
  r.method = "a\"b\\c\nd\x01";
  EXPECT_THAT(FormatAccessRecord(r), ::testing::HasSubstr(R"("method":"a\"b\\c\nd\u0001")"));
}

TEST(AccessLogTest, TraceIdOfATraceparent) {
  EXPECT_EQ(TraceIdOf("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(TraceIdOf(""), "");
  EXPECT_EQ(TraceIdOf("00-not-a-trace"), "");
  EXPECT_EQ(TraceIdOf("00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "");
}

TEST(AccessLogTest, WritesEveryRecordFromManyThreadsByTheTimeItCloses) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/access.log");
  std::remove(path.c_str());
  {
    absl::StatusOr<std::unique_ptr<AccessLog>> log = AccessLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status().message();
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
      workers.emplace_back([&log] {
        for (int i = 0; i < 2500; ++i) (*log)->Append(Record(i));
      });
    }
    for (auto& t : workers) t.join();
    EXPECT_EQ((*log)->dropped(), 0u);
  }
  std::vector<std::string> lines = absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty());
  EXPECT_THAT(lines, SizeIs(10000));
  EXPECT_EQ(lines.front() + "\n", FormatAccessRecord(Record(0)));
}

TEST(AccessLogTest, DropsAndCountsWhatDoesNotFit) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/bounded.log");
  absl::StatusOr<std::unique_ptr<AccessLog>> log = AccessLog::Open(path, /*max_queued=*/3);
  ASSERT_TRUE(log.ok());
  // The writer may take a batch at any moment; at least the overflow of one
  // burst larger than the bound is dropped.
  for (int i = 0; i < 1000; ++i) (*log)->Append(Record(i));
  EXPECT_GT((*log)->dropped(), 0u);
}

TEST(AccessLogTest, AFileThatCannotBeOpenedIsAnError) {
  absl::StatusOr<std::unique_ptr<AccessLog>> log = AccessLog::Open("/no/such/dir/access.log");
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(),
              ::testing::HasSubstr("access_log.path: cannot open \"/no/such/dir/access.log\""));
}

}  // namespace
}  // namespace polymesh::gateway
