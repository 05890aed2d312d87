// Retries and mirroring through the gateway in process, against real gRPC
// C++ backends on loopback: upstreams that fail and then succeed, an
// endpoint that is down, per-try timeouts, the replay buffer, streaming
// calls, the retry budget, and shadow calls that must never touch the
// client's call. Every test asserts the counters the gateway exports.
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "config/config_loader.h"
#include "echo_backend.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/gateway.h"
#include "test_support.h"
#include "transport/socket.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::testing::DeadPort;
using ::polymesh::gateway::testing::EchoBackend;
using ::polymesh::gateway::testing::kWait;
using ::polymesh::gateway::testing::StartRecordingSpans;
using ::polymesh::gateway::testing::Sample;
using ::polymesh::testing::v1::ClientStreamRequest;
using ::polymesh::testing::v1::ClientStreamResponse;
using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::ServerStreamRequest;
using ::polymesh::testing::v1::ServerStreamResponse;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;
using ::testing::HasSubstr;

std::string Endpoint(int port) { return absl::StrCat("{ address: 127.0.0.1, port: ", port, " }"); }

class CallPoliciesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Stop(absl::Seconds(1));
  }

  // Starts a gateway (one worker) with `clusters` and `routes` (YAML list
  // items) and the contracts of proto/ (which mark EchoService's methods
  // free of side effects, so its routes may retry), spans kept in memory.
  void StartGateway(absl::string_view clusters, absl::string_view routes,
                    absl::string_view top_extra = "") {
    const std::string yaml = absl::StrCat(
        "listener: { address: 127.0.0.1, port: 0 }\nworkers: 1\n",
        "contracts: { descriptor_sets: [\"", POLYMESH_DESCRIPTOR_SET, "\"] }\n", top_extra,
        "\nclusters:\n", clusters, "\nroutes:\n", routes, "\n");
    absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "policies.yaml");
    ASSERT_TRUE(config.ok()) << config.status().message();
    absl::StatusOr<std::unique_ptr<Gateway>> gateway = StartRecordingSpans(*config, &spans_);
    ASSERT_TRUE(gateway.ok()) << gateway.status().message();
    gateway_ = std::move(*gateway);
    stub_ = EchoService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", gateway_->port()), grpc::InsecureChannelCredentials()));
  }

  // The echo route to cluster "echo" with `extra` YAML (retry, mirror).
  static std::string EchoRoute(absl::string_view extra) {
    return absl::StrCat(
        "  - name: echo\n"
        "    match: { service: polymesh.testing.v1.EchoService }\n"
        "    cluster: echo\n",
        extra);
  }

  grpc::Status Unary(const UnaryRequest& request, UnaryResponse* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    UnaryResponse ignored;
    return stub_->Unary(&context, request, response != nullptr ? response : &ignored);
  }

  // The value of a counter with label route=`route` (-1 when absent), once
  // every call has ended on the worker.
  double Counter(const std::string& family, const std::string& route = "echo") {
    std::vector<prometheus::MetricFamily> families;
    const absl::Time deadline = absl::Now() + kWait;
    do {
      families = gateway_->stats()->Collect();
    } while (Sample(families, "polymesh_gateway_active_streams", {}) != 0 &&
             absl::Now() < deadline);
    return Sample(families, family, {{"route", route}});
  }

  // Waits until `family`{route} reaches `want`; returns its last value.
  double WaitForCounter(const std::string& family, double want) {
    const absl::Time deadline = absl::Now() + kWait;
    double value = Counter(family);
    while (value < want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
      value = Counter(family);
    }
    return value;
  }

  // The CLIENT spans, after the gateway stopped (every span ended).
  std::vector<std::unique_ptr<observability::SpanRecord>> StopAndTakeSpans() {
    gateway_->Stop(absl::Seconds(1));
    return spans_->Take();
  }

  // The attribute `key` of `span` if it is a T.
  template <typename T>
  static std::optional<T> Attribute(const observability::SpanRecord& span,
                                    const std::string& key) {
    const std::optional<observability::SpanRecord::Value> value = span.attribute(key);
    if (!value.has_value() || !std::holds_alternative<T>(*value)) return std::nullopt;
    return std::get<T>(*value);
  }

  EchoBackend backend_;
  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<observability::InMemorySpans> spans_;
  std::unique_ptr<EchoService::Stub> stub_;
};

constexpr absl::string_view kRetry =
    "    retry: { max_attempts: 3, base_backoff: 1ms, max_backoff: 5ms }\n";

TEST_F(CallPoliciesTest, UnavailableIsRetriedUntilTheUpstreamSucceeds) {
  const std::string log = absl::StrCat(::testing::TempDir(), "/policies-access.log");
  std::remove(log.c_str());
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute(kRetry), absl::StrCat("access_log: { path: \"", log, "\" }"));
  backend_.record().FailNext(2, grpc::StatusCode::UNAVAILABLE);
  UnaryRequest request;
  request.set_text("third time");
  UnaryResponse response;
  const grpc::Status status = Unary(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "third time");
  EXPECT_EQ(backend_.record().calls(), 3);
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 2);
  EXPECT_EQ(Counter("polymesh_gateway_retries_exhausted_total"), 0);
  EXPECT_EQ(Counter("polymesh_gateway_retries_over_budget_total"), 0);

  // One CLIENT span per attempt, numbered; the SERVER span counts them.
  std::vector<int64_t> attempts;
  int64_t server_attempts = 0;
  for (const auto& span : StopAndTakeSpans()) {
    if (span->kind() == opentelemetry::trace::SpanKind::kClient) {
      const std::optional<int64_t> attempt = Attribute<int64_t>(*span, "polymesh.attempt");
      ASSERT_TRUE(attempt.has_value());
      attempts.push_back(*attempt);
    } else if (const std::optional<int64_t> count =
                   Attribute<int64_t>(*span, "polymesh.attempts")) {
      server_attempts = *count;
    }
  }
  EXPECT_THAT(attempts, ::testing::UnorderedElementsAre(1, 2, 3));
  EXPECT_EQ(server_attempts, 3);
  std::ifstream in(log);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_THAT(line, HasSubstr(R"("status":"OK")"));
  EXPECT_THAT(line, HasSubstr(R"("attempts":3,)"));
}

TEST_F(CallPoliciesTest, AttemptsAreCapped) {
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute(kRetry));
  backend_.record().FailNext(100, grpc::StatusCode::UNAVAILABLE);
  const grpc::Status status = Unary(UnaryRequest());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "injected failure");  // the last attempt's answer
  EXPECT_EQ(backend_.record().calls(), 3);
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 2);
  EXPECT_EQ(Counter("polymesh_gateway_retries_exhausted_total"), 1);
}

TEST_F(CallPoliciesTest, CodesNotInRetryOnAreNotRetried) {
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute("    retry: { retry_on: [UNAVAILABLE, RESOURCE_EXHAUSTED] }\n"));
  backend_.record().FailNext(1, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Unary(UnaryRequest()).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(backend_.record().calls(), 1);
  backend_.record().FailNext(1, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Unary(UnaryRequest()).ok());
  EXPECT_EQ(backend_.record().calls(), 3);
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 1);
}

TEST_F(CallPoliciesTest, AnEndpointThatIsDownIsAvoided) {
  // Round robin sends every other call to the dead endpoint first: its
  // connection is refused, and the call moves to the live one at once.
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(DeadPort()), ", ",
                            Endpoint(backend_.port()), "]"),
               EchoRoute(kRetry));
  for (int i = 0; i < 4; ++i) {
    const grpc::Status status = Unary(UnaryRequest());
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(backend_.record().calls(), 4);
  EXPECT_GE(Counter("polymesh_gateway_transparent_retries_total"), 1);
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 0);  // no backoff was needed
}

TEST_F(CallPoliciesTest, PerTryTimeoutIsRetried) {
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute("    retry: { per_try_timeout: 300ms, base_backoff: 1ms }\n"));
  backend_.record().DelayNext(1, absl::Seconds(30));
  const grpc::Status status = Unary(UnaryRequest());
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(backend_.record().calls(), 2);
  // The slow attempt was cancelled, and each attempt was told its per-try
  // deadline, not the client's 10 s.
  EXPECT_TRUE(backend_.record().WaitForCancellation(kWait));
  EXPECT_LE(backend_.record().last_time_left(), absl::Milliseconds(300));
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 1);
}

TEST_F(CallPoliciesTest, PerTryTimeoutOnTheLastAttemptIsDeadlineExceeded) {
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute("    retry: { max_attempts: 2, per_try_timeout: 100ms, "
                         "base_backoff: 1ms }\n"));
  backend_.record().DelayNext(2, absl::Seconds(30));
  const grpc::Status status = Unary(UnaryRequest());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(backend_.record().calls(), 2);
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 1);
  EXPECT_EQ(Counter("polymesh_gateway_retries_exhausted_total"), 1);
}

TEST_F(CallPoliciesTest, ARequestOverTheBufferIsNotRetried) {
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute("    retry: { buffer_bytes: 1024, base_backoff: 1ms }\n"));
  backend_.record().FailNext(1, grpc::StatusCode::UNAVAILABLE);
  UnaryRequest large;
  large.set_payload(std::string(4096, 'x'));
  EXPECT_EQ(Unary(large).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(backend_.record().calls(), 1);
  EXPECT_EQ(Counter("polymesh_gateway_retry_buffer_overflows_total"), 1);
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 0);

  // Within the buffer: retried, and the large request still goes through
  // whole when nothing fails.
  backend_.record().FailNext(1, grpc::StatusCode::UNAVAILABLE);
  UnaryRequest small;
  small.set_payload(std::string(100, 'y'));
  UnaryResponse response;
  ASSERT_TRUE(Unary(small, &response).ok());
  EXPECT_EQ(response.payload(), small.payload());
  ASSERT_TRUE(Unary(large, &response).ok());
  EXPECT_EQ(response.payload(), large.payload());
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 1);
}

TEST_F(CallPoliciesTest, StreamsAreRetriedOnlyBeforeTheirFirstResponseMessage) {
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute(kRetry));
  {
    // Failed before any message: retried, the client sees a clean stream.
    backend_.record().FailNext(1, grpc::StatusCode::UNAVAILABLE);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    ServerStreamRequest request;
    request.mutable_instruction()->set_response_count(3);
    auto reader = stub_->ServerStream(&context, request);
    ServerStreamResponse response;
    int count = 0;
    while (reader->Read(&response)) EXPECT_EQ(response.index(), count++);
    const grpc::Status status = reader->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(count, 3);
    EXPECT_EQ(backend_.record().calls(), 2);
  }
  {
    // Failed after two messages reached the client: not retried.
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    ServerStreamRequest request;
    request.mutable_instruction()->set_response_count(2);
    request.mutable_instruction()->set_fail_code(grpc::StatusCode::UNAVAILABLE);
    auto reader = stub_->ServerStream(&context, request);
    ServerStreamResponse response;
    int count = 0;
    while (reader->Read(&response)) ++count;
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(count, 2);
    EXPECT_EQ(backend_.record().calls(), 3);
  }
  {
    // A client stream is replayed whole.
    backend_.record().FailNext(1, grpc::StatusCode::UNAVAILABLE);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    ClientStreamResponse response;
    auto writer = stub_->ClientStream(&context, &response);
    for (int i = 0; i < 3; ++i) {
      ClientStreamRequest request;
      request.set_text(absl::StrCat("m", i));
      ASSERT_TRUE(writer->Write(request));
    }
    ASSERT_TRUE(writer->WritesDone());
    const grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.text(), "m0,m1,m2");
  }
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 2);
}

TEST_F(CallPoliciesTest, TheRetryBudgetBoundsRetries) {
  // 20 calls in progress at once, each failing after a while: 10% of 20
  // allows 2 retries in progress; the others are refused by the budget.
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()), "]"),
               EchoRoute("    retry: { max_attempts: 2, base_backoff: 1ms, budget_percent: 10, "
                         "min_retry_concurrency: 1 }\n"));
  constexpr int kCalls = 20;
  std::vector<std::thread> callers;
  std::vector<grpc::StatusCode> codes(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    callers.emplace_back([this, i, &codes] {
      UnaryRequest request;
      request.mutable_instruction()->set_fail_code(grpc::StatusCode::UNAVAILABLE);
      request.mutable_instruction()->set_delay_ms(500);
      codes[i] = Unary(request).error_code();
    });
  }
  for (std::thread& caller : callers) caller.join();
  for (grpc::StatusCode code : codes) EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE);
  const double retries = Counter("polymesh_gateway_retries_total");
  const double over_budget = Counter("polymesh_gateway_retries_over_budget_total");
  EXPECT_GE(retries, 1);
  EXPECT_GE(over_budget, 1);
  EXPECT_LT(retries, kCalls / 2);
  // Every call's first failure asked for one retry; each retry failed too.
  EXPECT_EQ(retries + over_budget, kCalls);
  EXPECT_EQ(Counter("polymesh_gateway_retries_exhausted_total"), retries);
  EXPECT_EQ(backend_.record().calls(), kCalls + static_cast<int>(retries));
}

TEST_F(CallPoliciesTest, ARefusedStreamMovesWithoutARetryPolicy) {
  // No retry policy at all: a refused connection is still retried
  // transparently on the other endpoint.
  StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(DeadPort()), ", ",
                            Endpoint(backend_.port()), "]"),
               EchoRoute(""));
  for (int i = 0; i < 4; ++i) {
    const grpc::Status status = Unary(UnaryRequest());
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_GE(Counter("polymesh_gateway_transparent_retries_total"), 1);
  // And a failure that is not a refusal is not retried.
  backend_.record().FailNext(1, grpc::StatusCode::UNAVAILABLE);
  grpc::Status status;
  for (int i = 0; i < 2 && status.ok(); ++i) status = Unary(UnaryRequest());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Counter("polymesh_gateway_retries_total"), 0);
}

// --- Mirroring -----------------------------------------------------------------

class MirrorTest : public CallPoliciesTest {
 protected:
  void StartMirror(int shadow_port, absl::string_view mirror_extra = "") {
    StartGateway(absl::StrCat("  - name: echo\n    endpoints: [", Endpoint(backend_.port()),
                              "]\n  - name: shadow\n    endpoints: [", Endpoint(shadow_port), "]"),
                 EchoRoute(absl::StrCat("    mirror: { cluster: shadow", mirror_extra, " }\n")));
  }

  EchoBackend shadow_;
};

TEST_F(MirrorTest, TheShadowGetsACopyOfTheCall) {
  StartMirror(shadow_.port());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  context.AddMetadata("x-user", "alice");
  UnaryRequest request;
  request.set_text("copied");
  UnaryResponse response;
  ASSERT_TRUE(stub_->Unary(&context, request, &response).ok());
  EXPECT_EQ(response.text(), "copied");
  ASSERT_TRUE(shadow_.record().WaitForFinished(1, kWait));
  EXPECT_EQ(backend_.record().calls(), 1);
  EXPECT_EQ(shadow_.record().last_metadata().find("x-user")->second, "alice");
  EXPECT_TRUE(absl::EndsWith(shadow_.record().last_authority(), "-shadow"))
      << shadow_.record().last_authority();
  EXPECT_FALSE(absl::EndsWith(backend_.record().last_authority(), "-shadow"));
  EXPECT_EQ(Counter("polymesh_gateway_mirror_requests_total"), 1);
  EXPECT_EQ(WaitForCounter("polymesh_gateway_mirror_failures_total", 0), 0);

  int mirror_spans = 0;
  for (const auto& span : StopAndTakeSpans()) {
    if (span->kind() != opentelemetry::trace::SpanKind::kClient) continue;
    if (Attribute<bool>(*span, "polymesh.mirror") == true) {
      ++mirror_spans;
      EXPECT_EQ(Attribute<std::string_view>(*span, "polymesh.cluster"), "shadow");
    }
  }
  EXPECT_EQ(mirror_spans, 1);
}

TEST_F(MirrorTest, AFailingShadowDoesNotAffectTheClient) {
  StartMirror(shadow_.port());
  shadow_.record().FailNext(1, grpc::StatusCode::INTERNAL);
  ASSERT_TRUE(Unary(UnaryRequest()).ok());
  EXPECT_EQ(WaitForCounter("polymesh_gateway_mirror_failures_total", 1), 1);
}

TEST_F(MirrorTest, AShadowThatIsDownDoesNotAffectTheClient) {
  StartMirror(DeadPort());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Unary(UnaryRequest()).ok());
  EXPECT_EQ(WaitForCounter("polymesh_gateway_mirror_failures_total", 2), 2);
  EXPECT_EQ(Counter("polymesh_gateway_mirror_requests_total"), 2);
}

TEST_F(MirrorTest, ASlowShadowDoesNotDelayTheClient) {
  StartMirror(shadow_.port());
  shadow_.record().DelayNext(1, absl::Seconds(30));
  ASSERT_TRUE(Unary(UnaryRequest()).ok());
  // The client has its answer while the shadow is still waiting.
  ASSERT_TRUE(shadow_.record().WaitForCalls(1, kWait));
  EXPECT_EQ(shadow_.record().finished(), 0);
  // Stopping the gateway cancels it, and counts it.
  gateway_->Stop(absl::Seconds(1));
  EXPECT_TRUE(shadow_.record().WaitForCancellation(kWait));
  EXPECT_EQ(Counter("polymesh_gateway_mirror_cancelled_total"), 1);
}

TEST_F(MirrorTest, AShadowThatFallsBehindIsCancelled) {
  // The shadow accepts connections but never reads: the bytes it holds
  // grow past the bound and it is cancelled; the client's stream goes on.
  absl::StatusOr<ScopedFd> black_hole = ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(black_hole.ok());
  StartMirror(*LocalPort(black_hole->get()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  ClientStreamResponse response;
  auto writer = stub_->ClientStream(&context, &response);
  constexpr int kMessages = 64;
  constexpr int kSize = 64 * 1024;  // 4 MiB in all
  for (int i = 0; i < kMessages; ++i) {
    ClientStreamRequest request;
    request.set_payload(std::string(kSize, 'z'));
    ASSERT_TRUE(writer->Write(request));
  }
  ASSERT_TRUE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload_bytes(), int64_t{kMessages} * kSize);
  EXPECT_EQ(Counter("polymesh_gateway_mirror_cancelled_total"), 1);
}

TEST_F(MirrorTest, TheBoundOnAShadowFallingBehindIsConfigured) {
  // 256 KiB to a shadow that never reads: within the default 2 MiB the
  // shadow waits; with max_buffered_bytes 64 KiB it is cancelled.
  absl::StatusOr<ScopedFd> black_hole = ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(black_hole.ok());
  for (const bool bounded : {false, true}) {
    SCOPED_TRACE(bounded ? "max_buffered_bytes: 65536" : "default");
    StartMirror(*LocalPort(black_hole->get()), bounded ? ", max_buffered_bytes: 65536" : "");
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    ClientStreamResponse response;
    auto writer = stub_->ClientStream(&context, &response);
    for (int i = 0; i < 4; ++i) {
      ClientStreamRequest request;
      request.set_payload(std::string(64 * 1024, 'z'));
      ASSERT_TRUE(writer->Write(request));
    }
    ASSERT_TRUE(writer->WritesDone());
    ASSERT_TRUE(writer->Finish().ok());
    EXPECT_EQ(Counter("polymesh_gateway_mirror_cancelled_total"), bounded ? 1 : 0);
  }
}

TEST_F(MirrorTest, APercentOfCallsIsMirrored) {
  StartMirror(shadow_.port(), ", percent: 50");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Unary(UnaryRequest()).ok());
  EXPECT_EQ(Counter("polymesh_gateway_mirror_requests_total"), 2);
  EXPECT_TRUE(shadow_.record().WaitForFinished(2, kWait));
  EXPECT_EQ(backend_.record().calls(), 4);
}

}  // namespace
}  // namespace polymesh::gateway
