#include <string>
#include <vector>

#include "bench_command.h"
#include "load.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace polymesh::cli {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<BenchOptions> Parse(const std::vector<std::string>& words) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(BenchFlags(), words);
  if (!args.ok()) return args.status();
  return ParseBenchOptions(*args);
}

TEST(BenchOptionsTest, Defaults) {
  absl::StatusOr<BenchOptions> options = Parse({"pkg.S/M"});
  ASSERT_TRUE(options.ok()) << options.status();
  const LoadSpec& spec = options->spec;
  EXPECT_EQ(spec.target.authority, "127.0.0.1:8080");
  EXPECT_EQ(spec.concurrency, 50);
  EXPECT_EQ(spec.rate, 0);
  EXPECT_EQ(spec.connections, 4);
  EXPECT_GE(spec.threads, 1);
  EXPECT_LE(spec.threads, 4);
  EXPECT_EQ(spec.duration, absl::Seconds(10));
  EXPECT_EQ(spec.warmup, absl::Seconds(1));
  EXPECT_EQ(spec.calls, 0u);
  EXPECT_EQ(spec.deadline, absl::ZeroDuration());
  EXPECT_FALSE(options->json.has_value());
  EXPECT_TRUE(options->json_out.empty());
}

TEST(BenchOptionsTest, EveryFlag) {
  absl::StatusOr<BenchOptions> options =
      Parse({"--target", "[::1]:9", "--rate", "250.5", "--connections", "8", "--threads", "3",
             "--warmup", "0", "--duration", "1m", "--calls", "1000", "--deadline", "2s",
             "--stream-messages", "4", "-H", "a: b", "-H", "c=d", "--json", "out.json",
             "--quiet", "--descriptor-set", "x.binpb", "pkg.S/M", "{\"a\": 1}"});
  ASSERT_TRUE(options.ok()) << options.status();
  const LoadSpec& spec = options->spec;
  EXPECT_EQ(spec.target.host, "::1");
  EXPECT_EQ(spec.rate, 250.5);
  EXPECT_EQ(spec.connections, 8);
  EXPECT_EQ(spec.threads, 3);
  EXPECT_EQ(spec.warmup, absl::ZeroDuration());
  EXPECT_EQ(spec.duration, absl::Minutes(1));
  EXPECT_EQ(spec.calls, 1000u);
  EXPECT_EQ(spec.deadline, absl::Seconds(2));
  EXPECT_EQ(spec.stream_messages, 4);
  ASSERT_EQ(spec.metadata.size(), 2u);
  EXPECT_EQ(spec.metadata[1].key, "c");
  EXPECT_EQ(spec.metadata[1].value, "d");
  EXPECT_EQ(options->json_out, "out.json");
  EXPECT_TRUE(options->quiet);
  EXPECT_EQ(options->descriptor_sets, std::vector<std::string>{"x.binpb"});
  EXPECT_EQ(options->method, "pkg.S/M");
  EXPECT_EQ(options->json, "{\"a\": 1}");
}

TEST(BenchOptionsTest, CallsAloneBoundTheRun) {
  absl::StatusOr<BenchOptions> options = Parse({"--calls", "5", "pkg.S/M"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->spec.duration, absl::ZeroDuration());
}

TEST(BenchOptionsTest, Rejections) {
  EXPECT_THAT(Parse({"--rate", "1", "--concurrency", "2", "M"}).status().message(),
              HasSubstr("exclude each other"));
  EXPECT_THAT(Parse({"--rate", "0", "M"}).status().message(), HasSubstr("--rate takes a number"));
  EXPECT_THAT(Parse({"--calls", "0", "M"}).status().message(), HasSubstr("--calls"));
  EXPECT_THAT(Parse({"--target", "nope", "M"}).status().message(), HasSubstr("--target"));
  EXPECT_THAT(Parse({"-H", "grpc-x: 1", "M"}).status().message(), HasSubstr("reserved"));
  EXPECT_THAT(Parse({"M", "{}", "extra"}).status().message(), HasSubstr("too many arguments"));
}

TEST(BenchOptionsTest, UniqueMarkerAndItsFirstValue) {
  absl::StatusOr<BenchOptions> options =
      Parse({"--unique", "000000", "--unique-first", "42", "M"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->spec.unique_marker, "000000");
  EXPECT_EQ(options->spec.unique_first, 42u);
  EXPECT_THAT(Parse({"--unique", "01234567890123456789", "M"}).status().message(),
              HasSubstr("1 to 19 characters"));
  EXPECT_THAT(Parse({"--unique-first", "-1", "M"}).status().message(),
              HasSubstr("--unique-first"));
}

TEST(UniqueMarkerTest, EveryOccurrenceGetsTheZeroPaddedCounter) {
  std::string message = "a@xxxx.b/xxxx|xxx";
  absl::StatusOr<std::vector<size_t>> offsets = FindUniqueMarker(message, "xxxx");
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  EXPECT_EQ(*offsets, (std::vector<size_t>{2, 9}));
  WriteUniqueCounter(message, *offsets, 4, 37);
  EXPECT_EQ(message, "a@0037.b/0037|xxx");
  // The counter wraps at 10^width rather than growing the message.
  WriteUniqueCounter(message, *offsets, 4, 123456);
  EXPECT_EQ(message, "a@3456.b/3456|xxx");
  EXPECT_THAT(FindUniqueMarker("abc", "zz").status().message(),
              HasSubstr("does not occur in the request"));
}

TEST(BenchReportTest, JsonHasTheDocumentedFields) {
  absl::StatusOr<BenchOptions> options = Parse({"--rate", "100", "pkg.S/M"});
  ASSERT_TRUE(options.ok());
  options->spec.path = "/pkg.S/M";
  LoadResult result;
  result.calls = 10;
  result.ok = 8;
  result.errors_by_code[14] = 2;
  result.error_samples[14] = "say \"hi\"\n";
  result.duration_s = 2;
  for (uint64_t v = 1000; v <= 10000; v += 1000) result.latency_ns.Record(v);
  const std::string json = BenchReportJson(*options, result);
  ASSERT_EQ(json.back(), '\n');
  google::protobuf::Struct report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &report).ok()) << json;
  const auto& f = report.fields();
  for (const char* key :
       {"version", "method", "kind", "target", "mode", "concurrency", "rate", "connections",
        "threads", "stream_messages", "warmup_s", "deadline_s", "calls", "ok", "errors",
        "errors_by_code", "error_samples", "duration_s", "calls_per_s", "latency_us",
        "messages_sent", "messages_received", "messages_per_s", "message_latency_us",
        "connections_lost"}) {
    EXPECT_TRUE(f.contains(key)) << key;
  }
  EXPECT_EQ(f.at("mode").string_value(), "open");
  EXPECT_EQ(f.at("calls").number_value(), 10);
  EXPECT_EQ(f.at("errors").number_value(), 2);
  EXPECT_EQ(f.at("calls_per_s").number_value(), 5);
  EXPECT_EQ(f.at("errors_by_code").struct_value().fields().at("UNAVAILABLE").number_value(), 2);
  EXPECT_EQ(f.at("error_samples").struct_value().fields().at("UNAVAILABLE").string_value(),
            "say \"hi\"\n");
  const auto& latency = f.at("latency_us").struct_value().fields();
  EXPECT_NEAR(latency.at("p50").number_value(), 5, 5.0 / 128);  // within the precision
  EXPECT_EQ(latency.at("max").number_value(), 10);
  EXPECT_TRUE(f.at("message_latency_us").has_null_value());
}

}  // namespace
}  // namespace polymesh::cli
