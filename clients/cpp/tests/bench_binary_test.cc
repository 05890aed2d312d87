// `polymesh bench`, the real binary, against real servers on loopback: the
// nghttp2 echo server of the gateway benchmark and the gRPC C++ EchoService
// test backend. Counts are asserted, never times: every run is bounded by a
// number of calls, or by an open-loop schedule whose number of calls is
// fixed by its rate and duration.
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "echo_backend.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "polymesh_process.h"

namespace polymesh::cli {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::polymesh::cli::testing::ProcessResult;
using ::polymesh::cli::testing::RunningProcess;
using ::polymesh::cli::testing::RunProcess;
using ::polymesh::cli::testing::ServerProcess;
using ::polymesh::gateway::testing::EchoBackend;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kUnary[] = "polymesh.testing.v1.EchoService/Unary";

// The JSON report, parsed; fails the test when it is not JSON.
Struct Report(const ProcessResult& r) {
  Struct report;
  const auto status = google::protobuf::util::JsonStringToMessage(r.out, &report);
  EXPECT_TRUE(status.ok()) << status.message() << "\nstdout: " << r.out << "\nstderr: " << r.err;
  return report;
}

double Number(const Struct& s, const std::string& key) {
  auto found = s.fields().find(key);
  return found == s.fields().end() ? -1 : found->second.number_value();
}

const Struct& Object(const Struct& s, const std::string& key) {
  auto found = s.fields().find(key);
  return found == s.fields().end() ? Struct::default_instance()
                                   : found->second.struct_value();
}

class BenchBinaryTest : public ::testing::Test {
 protected:
  ProcessResult Bench(int port, std::vector<std::string> args) {
    std::vector<std::string> argv = {POLYMESH_BINARY, "bench", "--target",
                                     absl::StrCat("127.0.0.1:", port), "--json", "-",
                                     "--warmup", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, "");
  }

  ServerProcess echo_{{POLYMESH_ECHO_SERVER, "--threads", "1"}};
};

TEST_F(BenchBinaryTest, ClosedLoopMakesExactlyTheCallsAskedFor) {
  ASSERT_GT(echo_.port(), 0);
  const ProcessResult r = Bench(echo_.port(), {"--calls", "3000", "--concurrency", "20",
                                               "--connections", "3", "--threads", "2", kUnary,
                                               R"({"text": "hi"})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Struct report = Report(r);
  EXPECT_EQ(Number(report, "version"), 1);
  EXPECT_EQ(report.fields().at("mode").string_value(), "closed");
  EXPECT_EQ(report.fields().at("kind").string_value(), "unary");
  EXPECT_EQ(report.fields().at("method").string_value(), "/polymesh.testing.v1.EchoService/Unary");
  EXPECT_EQ(Number(report, "concurrency"), 20);
  EXPECT_TRUE(report.fields().at("rate").has_null_value());
  EXPECT_EQ(Number(report, "connections"), 3);
  EXPECT_EQ(Number(report, "calls"), 3000);
  EXPECT_EQ(Number(report, "ok"), 3000);
  EXPECT_EQ(Number(report, "errors"), 0);
  EXPECT_EQ(Object(report, "errors_by_code").fields_size(), 0);
  EXPECT_GT(Number(report, "duration_s"), 0);
  EXPECT_GT(Number(report, "calls_per_s"), 0);
  const Struct& latency = Object(report, "latency_us");
  for (const char* key : {"min", "mean", "p50", "p90", "p99", "p999", "max"}) {
    EXPECT_GT(Number(latency, key), 0) << key;
  }
  EXPECT_LE(Number(latency, "p50"), Number(latency, "p99"));
  EXPECT_LE(Number(latency, "p99"), Number(latency, "max"));
  // The human summary goes to stderr when the JSON takes stdout.
  EXPECT_THAT(r.err, HasSubstr("calls     3000 in "));
}

TEST_F(BenchBinaryTest, OpenLoopSendsTheScheduledCalls) {
  // 400 calls/s for 1.5 s after a 0.5 s warmup: calls 200..799 of the
  // schedule are measured, whatever the timing.
  const ProcessResult r = Bench(echo_.port(), {"--rate", "400", "--duration", "1.5s", "--warmup",
                                               "0.5s", "--connections", "2", kUnary, "{}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Struct report = Report(r);
  EXPECT_EQ(report.fields().at("mode").string_value(), "open");
  EXPECT_EQ(Number(report, "rate"), 400);
  EXPECT_TRUE(report.fields().at("concurrency").has_null_value());
  EXPECT_EQ(Number(report, "calls"), 600);
  EXPECT_EQ(Number(report, "ok"), 600);
}

TEST_F(BenchBinaryTest, OpenLoopLatencyShowsAStalledServersQueue) {
  // The server stops for half a second in the middle of an open-loop run.
  // The schedule goes on (every call is still sent and counted), and each
  // call meant to go out during the stall is timed from its intended send
  // time: the 400 calls due in its first 400 ms (13% of the run) wait at
  // least 100 ms, so p99 shows it; a load generator that waited for the
  // server before sending (coordinated omission) would not.
  RunningProcess bench({POLYMESH_BINARY, "bench", "--target",
                        absl::StrCat("127.0.0.1:", echo_.port()), "--json", "-", "--warmup", "0",
                        "--rate", "1000", "--duration", "3s", "--connections", "2", kUnary, "{}"});
  // The first progress line (after a second of load) is the cue.
  ASSERT_THAT(bench.ReadErrLine(), HasSubstr(" calls "));
  echo_.Signal(SIGSTOP);
  absl::SleepFor(absl::Milliseconds(500));  // the stall itself, not a wait for something
  echo_.Signal(SIGCONT);
  const ProcessResult r = bench.Wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Struct report = Report(r);
  EXPECT_EQ(Number(report, "calls"), 3000);
  EXPECT_EQ(Number(report, "ok"), 3000);
  const Struct& latency = Object(report, "latency_us");
  EXPECT_GE(Number(latency, "p99"), 100000);
  EXPECT_GE(Number(latency, "max"), 400000);
}

TEST_F(BenchBinaryTest, OpenLoopBoundedByCalls) {
  const ProcessResult r =
      Bench(echo_.port(), {"--rate", "1000", "--calls", "250", "--threads", "2",
                           "--connections", "2", kUnary, "{}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Number(Report(r), "calls"), 250);
}

TEST_F(BenchBinaryTest, BidiStreamsCountEveryRoundTrip) {
  const ProcessResult r =
      Bench(echo_.port(), {"--calls", "200", "--concurrency", "10", "--stream-messages", "5",
                           "polymesh.testing.v1.EchoService/BidiStream", R"({"text": "b"})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Struct report = Report(r);
  EXPECT_EQ(report.fields().at("kind").string_value(), "bidi_streaming");
  EXPECT_EQ(Number(report, "calls"), 200);
  EXPECT_EQ(Number(report, "messages_sent"), 1000);
  EXPECT_EQ(Number(report, "messages_received"), 1000);
  EXPECT_GT(Number(Object(report, "message_latency_us"), "p50"), 0);
}

TEST_F(BenchBinaryTest, ErrorsAreCountedByStatusCode) {
  const ProcessResult r = Bench(
      echo_.port(),
      {"--calls", "100", "--concurrency", "5", kUnary,
       R"({"instruction": {"failCode": 14, "failMessage": "try later"}})"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const Struct report = Report(r);
  EXPECT_EQ(Number(report, "calls"), 100);
  EXPECT_EQ(Number(report, "ok"), 0);
  EXPECT_EQ(Number(Object(report, "errors_by_code"), "UNAVAILABLE"), 100);
  EXPECT_EQ(Object(report, "error_samples").fields().at("UNAVAILABLE").string_value(),
            "try later");
}

TEST_F(BenchBinaryTest, UnknownMethodOfAKnownServiceIsUnimplemented) {
  // Raw bytes need no contract: the server answers what it does not serve.
  const std::string data = absl::StrCat(::testing::TempDir(), "/empty.bin");
  std::ofstream(data).close();
  const ProcessResult r = Bench(echo_.port(), {"--calls", "10", "--data-file", data,
                                               "polymesh.testing.v1.EchoService/Missing"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(Number(Object(Report(r), "errors_by_code"), "UNIMPLEMENTED"), 10);
}

TEST_F(BenchBinaryTest, MetadataAndDeadlineReachAGrpcServer) {
  EchoBackend backend;
  ProcessResult r = Bench(backend.port(), {"--calls", "20", "--concurrency", "2", "-H",
                                           "x-tenant: acme", "--deadline", "30s", kUnary, "{}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Number(Report(r), "ok"), 20);
  EXPECT_THAT(backend.record().last_metadata(),
              ::testing::Contains(::testing::Pair("x-tenant", "acme")));
  EXPECT_GT(backend.record().last_time_left(), absl::Seconds(20));

  r = Bench(backend.port(), {"--calls", "4", "--concurrency", "2", "--deadline", "50ms", kUnary,
                             R"({"instruction": {"delayMs": 3000}})"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(Number(Object(Report(r), "errors_by_code"), "DEADLINE_EXCEEDED"), 4);
}

TEST(BenchErrorsTest, NoServerExitsUnavailable) {
  const ProcessResult r = RunProcess({POLYMESH_BINARY, "bench", "--target", "127.0.0.1:1",
                                      "--calls", "1", kUnary, "{}"},
                                     "");
  EXPECT_EQ(r.exit_code, 10 + 14);
  EXPECT_THAT(r.err, StartsWith("polymesh: UNAVAILABLE: cannot connect to 127.0.0.1:1"));
}

TEST(BenchErrorsTest, BadCommandLines) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--rate", "10", "--concurrency", "5", kUnary}, "exclude each other"},
      {{"--connections", "0", kUnary}, "--connections takes a whole number from 1"},
      {{"--duration", "0", kUnary}, "--duration must be more than 0"},
      {{"--stream-messages", "3", kUnary}, "--stream-messages is for client and bidi streams"},
      {{}, "missing METHOD"},
      {{"--data-file", "x", kUnary, "{}"}, "not both"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv = {POLYMESH_BINARY, "bench"};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessResult r = RunProcess(argv, "");
    EXPECT_EQ(r.exit_code, 1) << message;
    EXPECT_THAT(r.err, HasSubstr(message));
  }
  const ProcessResult r =
      RunProcess({POLYMESH_BINARY, "bench", "--calls", "1", kUnary, R"({"nope": 1})"}, "");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("polymesh: INVALID_ARGUMENT: the JSON is not a "));
}

}  // namespace
}  // namespace polymesh::cli
