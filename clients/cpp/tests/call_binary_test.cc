// `polymesh call`, the real binary, against a real gRPC C++ server on
// loopback (the EchoService test backend): JSON out for every call kind,
// metadata that arrives, the deadline, error codes and messages, --list.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "echo_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "polymesh_process.h"

namespace polymesh::cli {
namespace {

using ::polymesh::cli::testing::ProcessResult;
using ::polymesh::cli::testing::RunProcess;
using ::polymesh::gateway::testing::EchoBackend;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::StartsWith;

constexpr char kUnary[] = "polymesh.testing.v1.EchoService/Unary";

class CallBinaryTest : public ::testing::Test {
 protected:
  ProcessResult Call(std::vector<std::string> args, const std::string& stdin_text = "") {
    std::vector<std::string> argv = {POLYMESH_BINARY, "call", "--target",
                                     absl::StrCat("127.0.0.1:", backend_.port())};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, stdin_text);
  }

  EchoBackend backend_;
};

TEST_F(CallBinaryTest, UnaryPrintsTheResponseAsJson) {
  const ProcessResult r = Call({kUnary, R"({"text": "hello", "payload": "AAEC"})"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"hello\",\"payload\":\"AAEC\"}\n");
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(CallBinaryTest, MethodNamesInEveryForm) {
  for (const char* name : {"/polymesh.testing.v1.EchoService/Unary",
                           "polymesh.testing.v1.EchoService.Unary"}) {
    const ProcessResult r = Call({name, R"({"text": "x"})"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, "{\"text\":\"x\"}\n") << name;
  }
}

TEST_F(CallBinaryTest, PrettyAndDefaultsOnRequest) {
  const ProcessResult r = Call({"--pretty", "--emit-defaults", kUnary, "{}"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\n \"text\": \"\""), HasSubstr("\"payload\": \"\"")));
}

TEST_F(CallBinaryTest, UnaryReadsItsRequestFromStdin) {
  const ProcessResult r = Call({kUnary}, "{\n  \"text\": \"from stdin\"\n}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"from stdin\"}\n");
}

TEST_F(CallBinaryTest, MetadataArrivesAtTheServer) {
  const ProcessResult r = Call({"-H", "x-tenant: acme", "--header", "X-Trace-Bin: AAEC",
                                "-v", kUnary, "{}"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto metadata = backend_.record().last_metadata();
  EXPECT_THAT(metadata, Contains(Pair("x-tenant", "acme")));
  EXPECT_THAT(metadata, Contains(Pair("x-trace-bin", std::string("\x00\x01\x02", 3))));
  // -v: the response headers (the backend echoes x-* as echo-x-*) and
  // trailers, binary ones in base64.
  EXPECT_THAT(r.err, AllOf(HasSubstr("< echo-x-tenant: acme"),
                           HasSubstr("< x-trailer: trailer-value"),
                           HasSubstr("< x-trailer-bin: AAH+/yBiaW5hcnk=")));
}

TEST_F(CallBinaryTest, DeadlineIsSentAndExceededExitsWith14) {
  ProcessResult r = Call({"--deadline", "30s", kUnary, "{}"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(backend_.record().last_time_left(), absl::Seconds(30));
  EXPECT_GT(backend_.record().last_time_left(), absl::Seconds(20));

  r = Call({"--deadline", "100ms", kUnary, R"({"instruction": {"delayMs": 5000}})"});
  EXPECT_EQ(r.exit_code, 10 + 4) << r.err;
  EXPECT_THAT(r.err, StartsWith("polymesh: DEADLINE_EXCEEDED: "));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST_F(CallBinaryTest, ServerErrorExitsWithTenPlusItsCodeAndShowsDetails) {
  const ProcessResult r =
      Call({kUnary, R"({"instruction": {"failCode": 9, "failMessage": "not now"}})"});
  EXPECT_EQ(r.exit_code, 10 + 9);
  EXPECT_THAT(r.err, StartsWith("polymesh: FAILED_PRECONDITION: not now\n"));
  EXPECT_THAT(r.err, HasSubstr("details: code 3, message \"details\""));
}

TEST_F(CallBinaryTest, UnknownMethodIsAClearBadInputError) {
  ProcessResult r = Call({"polymesh.testing.v1.EchoService/Nope", "{}"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("polymesh: NOT_FOUND: unknown method "
                                "\"polymesh.testing.v1.EchoService/Nope\": service "
                                "polymesh.testing.v1.EchoService has Unary, ClientStream"));
  r = Call({"nope.v1.Missing/Call", "{}"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no service nope.v1.Missing"));
  EXPECT_THAT(r.err, HasSubstr("polymesh call --list"));
}

TEST_F(CallBinaryTest, JsonThatIsNotTheRequestTypeIsBadInput) {
  const ProcessResult r = Call({kUnary, R"({"txt": "typo"})"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("polymesh: INVALID_ARGUMENT: the JSON is not a "
                                "polymesh.testing.v1.UnaryRequest: "));
  EXPECT_EQ(backend_.record().last_time_left(), absl::InfiniteDuration());  // nothing sent
}

TEST_F(CallBinaryTest, UsageErrorsExitWith1) {
  EXPECT_EQ(Call({}).exit_code, 1);
  const ProcessResult r = Call({"--deadline", "soon", kUnary});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("polymesh: USAGE: --deadline takes a duration"));
  EXPECT_THAT(r.err, HasSubstr("polymesh call --help"));
}

TEST_F(CallBinaryTest, NoServerIsUnavailable) {
  const ProcessResult r = RunProcess({POLYMESH_BINARY, "call", "--target", "127.0.0.1:1",
                                      "--deadline", "10s", kUnary, "{}"},
                                     "");
  EXPECT_EQ(r.exit_code, 10 + 14) << r.err;
  EXPECT_THAT(r.err, StartsWith("polymesh: UNAVAILABLE: "));
}

TEST_F(CallBinaryTest, ClientStreamSendsOneRequestPerLine) {
  const ProcessResult r = Call({"polymesh.testing.v1.EchoService/ClientStream"},
                               "{\"text\": \"a\", \"payload\": \"AAE=\"}\n\n{\"text\": \"b\"}\n"
                               "{\"text\": \"c\"}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"a,b,c\",\"count\":3,\"payloadBytes\":\"2\"}\n");
}

TEST_F(CallBinaryTest, ClientStreamStopsAtABadLine) {
  const ProcessResult r = Call({"polymesh.testing.v1.EchoService/ClientStream"},
                               "{\"text\": \"a\"}\n{\"text\": 7, \"oops\": 1}\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("stdin line 2: the JSON is not a "
                               "polymesh.testing.v1.ClientStreamRequest"));
}

TEST_F(CallBinaryTest, ServerStreamPrintsEveryResponse) {
  const ProcessResult r = Call({"polymesh.testing.v1.EchoService/ServerStream",
                                R"({"text": "s", "instruction": {"responseCount": 3}})"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"s\"}\n{\"text\":\"s\",\"index\":1}\n{\"text\":\"s\",\"index\":2}\n");
}

TEST_F(CallBinaryTest, BidiStreamAnswersEachLineAndReportsAFailure) {
  ProcessResult r = Call({"polymesh.testing.v1.EchoService/BidiStream"},
                         "{\"text\": \"one\"}\n{\"text\": \"two\"}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"one\"}\n{\"text\":\"two\",\"index\":1}\n");

  r = Call({"polymesh.testing.v1.EchoService/BidiStream"},
           "{\"text\": \"one\"}\n{\"instruction\": {\"failCode\": 8}}\n{\"text\": \"never\"}\n");
  EXPECT_EQ(r.exit_code, 10 + 8);
  EXPECT_EQ(r.out, "{\"text\":\"one\"}\n");
  EXPECT_THAT(r.err, StartsWith("polymesh: RESOURCE_EXHAUSTED: "));
}

TEST(CallListTest, ListsServicesAndMethodsWithTheirKinds) {
  ProcessResult r =
      RunProcess({POLYMESH_BINARY, "call", "--list", "polymesh.testing"}, "");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "polymesh.testing.v1.EchoService\n"
            "  rpc Unary(polymesh.testing.v1.UnaryRequest) returns "
            "(polymesh.testing.v1.UnaryResponse)\n"
            "  rpc ClientStream(stream polymesh.testing.v1.ClientStreamRequest) returns "
            "(polymesh.testing.v1.ClientStreamResponse)\n"
            "  rpc ServerStream(polymesh.testing.v1.ServerStreamRequest) returns "
            "(stream polymesh.testing.v1.ServerStreamResponse)\n"
            "  rpc BidiStream(stream polymesh.testing.v1.BidiStreamRequest) returns "
            "(stream polymesh.testing.v1.BidiStreamResponse)\n");
  r = RunProcess({POLYMESH_BINARY, "call", "--list"}, "");
  EXPECT_THAT(r.out, HasSubstr("grpc.health.v1.Health\n  rpc Check("));
  r = RunProcess({POLYMESH_BINARY, "call", "--list", "--descriptor-set", "/nonexistent.binpb"},
                 "");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("polymesh: NOT_FOUND: "));
  EXPECT_THAT(r.err, HasSubstr("/nonexistent.binpb"));
}

TEST(CallHelpTest, HelpNamesTheExitCodes) {
  const ProcessResult r = RunProcess({POLYMESH_BINARY, "call", "--help"}, "");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("usage: polymesh call"), HasSubstr("14 DEADLINE_EXCEEDED"),
                           HasSubstr("--deadline")));
  EXPECT_EQ(RunProcess({POLYMESH_BINARY, "help"}, "").exit_code, 0);
  EXPECT_EQ(RunProcess({POLYMESH_BINARY, "frobnicate"}, "").exit_code, 1);
}

}  // namespace
}  // namespace polymesh::cli
