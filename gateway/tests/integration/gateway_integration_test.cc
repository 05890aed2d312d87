// The gateway in process, in front of a gRPC C++ EchoService backend, called
// with the gRPC C++ client: every call kind, metadata and trailers, errors,
// deadlines, cancellation, flow control, health, and the spans it makes.
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "config/config_loader.h"
#include "echo_backend.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
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
using ::polymesh::gateway::testing::kBinaryTrailerValue;
using ::polymesh::gateway::testing::kErrorDetails;
using ::polymesh::testing::v1::BidiStreamRequest;
using ::polymesh::testing::v1::BidiStreamResponse;
using ::polymesh::testing::v1::ClientStreamRequest;
using ::polymesh::testing::v1::ClientStreamResponse;
using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::ServerStreamRequest;
using ::polymesh::testing::v1::ServerStreamResponse;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;
using ::testing::HasSubstr;

std::string Str(grpc::string_ref value) { return std::string(value.data(), value.size()); }

std::string Find(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                 const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end() ? std::string("<missing>") : Str(it->second);
}

class GatewayIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { StartGateway(""); }

  // Starts the gateway in front of the backend; `echo_route_extra` is added
  // to the echo route (such as a timeout).
  void StartGateway(absl::string_view echo_route_extra, absl::string_view top_extra = "") {
    if (gateway_ != nullptr) gateway_->Stop(absl::ZeroDuration());
    gateway_.reset();
    const std::string yaml = absl::StrCat(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
local_services: { address: 127.0.0.1, port: 0 }
workers: 2
)yaml", top_extra, R"yaml(
clusters:
  - name: echo
    endpoints: [{ address: )yaml", echo_address_, ", port: ", backend_.port(), R"yaml( }]
  - name: nowhere
    endpoints: [{ address: 127.0.0.1, port: )yaml", DeadPort(), R"yaml( }]
    connect_timeout: 2s
routes:
  - name: echo
    match: { service: polymesh.testing.v1.EchoService }
    cluster: echo
)yaml", echo_route_extra, R"yaml(
  - name: nowhere
    match: { method: /inference.GRPCInferenceService/ServerLive }
    cluster: nowhere
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
)yaml");
    absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "test.yaml");
    ASSERT_TRUE(config.ok()) << config.status().message();
    absl::StatusOr<std::unique_ptr<Gateway>> gateway = StartRecordingSpans(*config, &spans_);
    ASSERT_TRUE(gateway.ok()) << gateway.status().message();
    gateway_ = std::move(*gateway);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = EchoService::NewStub(channel_);
  }

  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Stop(absl::Seconds(1));
  }

  // A raw unary call of `method` with `request` bytes.
  grpc::Status RawUnary(const std::string& method, const std::string& request,
                        std::string* response_bytes) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(request);
    grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ByteBuffer response;
    grpc::internal::RpcMethod rpc(method.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel_.get(), rpc, &context, request_buffer, &response);
    if (status.ok() && response_bytes != nullptr) {
      std::vector<grpc::Slice> slices;
      (void)response.Dump(&slices);
      response_bytes->clear();
      for (const grpc::Slice& s : slices) {
        response_bytes->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    return status;
  }

  static void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }

  // The echo cluster's endpoint address, as configured.
  std::string echo_address_ = "127.0.0.1";
  EchoBackend backend_;
  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<observability::InMemorySpans> spans_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<EchoService::Stub> stub_;
};

TEST_F(GatewayIntegrationTest, StatisticsCountCallsByRouteClusterAndStatus) {
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    UnaryRequest request;
    request.set_text("hi");
    UnaryResponse response;
    ASSERT_TRUE(stub_->Unary(&context, request, &response).ok());
  }
  {
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    UnaryRequest request;
    request.mutable_instruction()->set_fail_code(grpc::StatusCode::NOT_FOUND);
    UnaryResponse response;
    EXPECT_EQ(stub_->Unary(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  std::string ignored;
  EXPECT_EQ(RawUnary("/no.Such/Method", "", &ignored).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(RawUnary("/inference.GRPCInferenceService/ServerLive", "", &ignored).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // The server half of a call ends on the worker after the client has its
  // answer: wait for the counts to settle.
  std::vector<prometheus::MetricFamily> families;
  const absl::Time deadline = absl::Now() + kWait;
  do {
    families = gateway_->stats()->Collect();
  } while (Sample(families, "polymesh_gateway_active_streams", {}) != 0 &&
           absl::Now() < deadline);
  const std::string requests = "polymesh_gateway_requests_total";
  EXPECT_EQ(Sample(families, requests, {{"route", "echo"}, {"grpc_code", "OK"}}), 3);
  EXPECT_EQ(Sample(families, requests, {{"route", "echo"}, {"grpc_code", "NOT_FOUND"}}), 1);
  EXPECT_EQ(Sample(families, requests, {{"route", "none"}, {"grpc_code", "UNIMPLEMENTED"}}), 1);
  EXPECT_EQ(Sample(families, requests, {{"route", "nowhere"}, {"grpc_code", "UNAVAILABLE"}}),
            1);
  EXPECT_EQ(Sample(families, "polymesh_gateway_upstream_requests_total",
                   {{"cluster", "echo"}, {"grpc_code", "OK"}}),
            3);
  EXPECT_EQ(Sample(families, "polymesh_gateway_request_duration_seconds", {{"route", "echo"}}),
            4);
  EXPECT_GT(Sample(families, "polymesh_gateway_request_bytes_total", {{"route", "echo"}}), 0);
  EXPECT_GT(Sample(families, "polymesh_gateway_response_bytes_total", {{"route", "echo"}}), 0);
  EXPECT_EQ(Sample(families, "polymesh_gateway_upstream_active_requests", {{"cluster", "echo"}}),
            0);
  EXPECT_GE(Sample(families, "polymesh_gateway_downstream_connections_total", {}), 1);
}

TEST_F(GatewayIntegrationTest, AccessLogHasOneJsonLinePerCall) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/gateway-access.log");
  std::remove(path.c_str());
  StartGateway("", absl::StrCat("access_log: { path: \"", path, "\" }"));
  {
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    context.AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    UnaryRequest request;
    request.set_text("logged");
    UnaryResponse response;
    ASSERT_TRUE(stub_->Unary(&context, request, &response).ok());
  }
  std::string ignored;
  EXPECT_EQ(RawUnary("/no.Such/Method", "", &ignored).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  gateway_->Stop(kWait);  // flushes the log
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr(R"("method":"polymesh.testing.v1.EchoService/Unary","route":"echo",)"
                                  R"("cluster":"echo","endpoint":"127.0.0.1:)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("status":"OK","grpc_status":0,)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")"));
  EXPECT_THAT(lines[1], HasSubstr(R"("method":"no.Such/Method","route":"","cluster":"","endpoint":"",)"
                                  R"("status":"UNIMPLEMENTED","grpc_status":12,)"));
}

TEST(GatewaySplitTest, AWeightedSplitSendsEachClusterItsShare) {
  EchoBackend go, python;
  const std::string yaml = absl::StrCat(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
workers: 1
tracing: { disabled: true }
clusters:
  - name: go
    endpoints: [{ address: 127.0.0.1, port: )yaml", go.port(), R"yaml( }]
  - name: python
    endpoints: [{ address: 127.0.0.1, port: )yaml", python.port(), R"yaml( }]
routes:
  - name: echo
    match: { service: polymesh.testing.v1.EchoService }
    split: [{ cluster: go, weight: 3 }, { cluster: python, weight: 1 }]
)yaml");
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "split.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  absl::StatusOr<std::unique_ptr<Gateway>> gateway = Gateway::Start(*config, nullptr);
  ASSERT_TRUE(gateway.ok()) << gateway.status().message();
  auto stub = EchoService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*gateway)->port()), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 8; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    UnaryRequest request;
    request.set_text("split");
    UnaryResponse response;
    ASSERT_TRUE(stub->Unary(&context, request, &response).ok());
  }
  EXPECT_TRUE(go.record().WaitForCalls(6, kWait));
  EXPECT_TRUE(python.record().WaitForCalls(2, kWait));
  (*gateway)->Stop(kWait);
  const std::vector<prometheus::MetricFamily> families = (*gateway)->stats()->Collect();
  EXPECT_EQ(Sample(families, "polymesh_gateway_upstream_requests_total",
                   {{"cluster", "go"}, {"grpc_code", "OK"}}),
            6);
  EXPECT_EQ(Sample(families, "polymesh_gateway_upstream_requests_total",
                   {{"cluster", "python"}, {"grpc_code", "OK"}}),
            2);
}

TEST_F(GatewayIntegrationTest, UnaryCarriesMetadataHeadersAndTrailers) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  context.AddMetadata("x-user", "alice");
  context.AddMetadata("x-blob-bin", std::string("\x00\xff\x10", 3));
  UnaryRequest request;
  request.set_text("hello");
  request.set_payload("payload");
  UnaryResponse response;
  grpc::Status status = stub_->Unary(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "hello");
  EXPECT_EQ(response.payload(), "payload");

  auto metadata = backend_.record().last_metadata();
  EXPECT_EQ(metadata.find("x-user")->second, "alice");
  EXPECT_EQ(metadata.find("x-blob-bin")->second, std::string("\x00\xff\x10", 3));
  EXPECT_EQ(Find(context.GetServerInitialMetadata(), "echo-x-user"), "alice");
  EXPECT_EQ(Find(context.GetServerTrailingMetadata(), "x-trailer"), "trailer-value");
  EXPECT_EQ(Find(context.GetServerTrailingMetadata(), "x-trailer-bin"),
            std::string(kBinaryTrailerValue, sizeof(kBinaryTrailerValue) - 1));
}

TEST_F(GatewayIntegrationTest, ErrorStatusMessageAndDetailsComeBackUnchanged) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  UnaryRequest request;
  request.mutable_instruction()->set_fail_code(grpc::StatusCode::NOT_FOUND);
  request.mutable_instruction()->set_fail_message("model \"iris\" not found: 100%");
  UnaryResponse response;
  grpc::Status status = stub_->Unary(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model \"iris\" not found: 100%");
  EXPECT_EQ(status.error_details(), std::string(kErrorDetails, sizeof(kErrorDetails) - 1));
  EXPECT_EQ(Find(context.GetServerTrailingMetadata(), "x-trailer"), "trailer-value");
}

TEST_F(GatewayIntegrationTest, SpansRecordTheUpstreamsStatusMessageDecoded) {
  // On the wire "100%" is "100%25" and "é" is "%C3%A9" (grpc-message is
  // percent-encoded); spans record the text.
  const std::string message = "model \"iris\" d\xc3\xa9j\xc3\xa0 gone: 100%";
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  UnaryRequest request;
  request.mutable_instruction()->set_fail_code(grpc::StatusCode::INTERNAL);
  request.mutable_instruction()->set_fail_message(message);
  UnaryResponse response;
  grpc::Status status = stub_->Unary(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message(), message);
  gateway_->Stop(absl::Seconds(1));  // every span ended

  int spans = 0;
  for (const auto& span : spans_->Take()) {
    ++spans;
    EXPECT_EQ(span->status(), opentelemetry::trace::StatusCode::kError);
    EXPECT_EQ(span->status_message(), message);
  }
  EXPECT_EQ(spans, 2);  // SERVER and CLIENT
}

TEST_F(GatewayIntegrationTest, ClientStreamingCarriesEveryMessage) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  ClientStreamResponse response;
  auto writer = stub_->ClientStream(&context, &response);
  for (int i = 0; i < 5; ++i) {
    ClientStreamRequest request;
    request.set_text(absl::StrCat("m", i));
    request.set_payload(std::string(10, 'p'));
    ASSERT_TRUE(writer->Write(request));
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "m0,m1,m2,m3,m4");
  EXPECT_EQ(response.count(), 5);
  EXPECT_EQ(response.payload_bytes(), 50);
}

TEST_F(GatewayIntegrationTest, ServerStreamingCarriesEveryMessage) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  ServerStreamRequest request;
  request.set_text("s");
  request.mutable_instruction()->set_response_count(7);
  request.mutable_instruction()->set_response_size(3);
  auto reader = stub_->ServerStream(&context, request);
  ServerStreamResponse response;
  int count = 0;
  while (reader->Read(&response)) {
    EXPECT_EQ(response.index(), count);
    EXPECT_EQ(response.payload(), "xxx");
    ++count;
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(count, 7);
  EXPECT_EQ(Find(context.GetServerTrailingMetadata(), "x-trailer"), "trailer-value");
}

TEST_F(GatewayIntegrationTest, BidiStreamingEchoesEachMessage) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  auto stream = stub_->BidiStream(&context);
  for (int i = 0; i < 4; ++i) {
    BidiStreamRequest request;
    request.set_text(absl::StrCat("b", i));
    ASSERT_TRUE(stream->Write(request));
    BidiStreamResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.text(), absl::StrCat("b", i));
    EXPECT_EQ(response.index(), i);
  }
  ASSERT_TRUE(stream->WritesDone());
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(GatewayIntegrationTest, LargeStreamsArriveIntactBothWays) {
  constexpr int kMessages = 96;
  constexpr int kSize = 64 * 1024;  // 6 MiB in all, each way
  {
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    ClientStreamResponse response;
    auto writer = stub_->ClientStream(&context, &response);
    for (int i = 0; i < kMessages; ++i) {
      ClientStreamRequest request;
      request.set_payload(std::string(kSize, static_cast<char>('a' + i % 26)));
      ASSERT_TRUE(writer->Write(request));
    }
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status status = writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.count(), kMessages);
    EXPECT_EQ(response.payload_bytes(), int64_t{kMessages} * kSize);
  }
  {
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    ServerStreamRequest request;
    request.mutable_instruction()->set_response_count(kMessages);
    request.mutable_instruction()->set_response_size(kSize);
    auto reader = stub_->ServerStream(&context, request);
    ServerStreamResponse response;
    int count = 0;
    int64_t bytes = 0;
    while (reader->Read(&response)) {
      EXPECT_EQ(response.index(), count++);
      bytes += static_cast<int64_t>(response.payload().size());
    }
    grpc::Status status = reader->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(count, kMessages);
    EXPECT_EQ(bytes, int64_t{kMessages} * kSize);
  }
}

TEST_F(GatewayIntegrationTest, UnroutedMethodIsUnimplementedAndNamed) {
  grpc::Status status = RawUnary("/unknown.v1.Nowhere/Call", "", nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(status.error_message(), "no route for method \"/unknown.v1.Nowhere/Call\"");
}

TEST_F(GatewayIntegrationTest, UnreachableUpstreamIsUnavailableAndNamed) {
  grpc::Status status = RawUnary("/inference.GRPCInferenceService/ServerLive", "", nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("cluster \"nowhere\" endpoint 127.0.0.1:"));
  EXPECT_THAT(status.error_message(), HasSubstr("refused"));
  // A later call tries again (and fails the same way).
  status = RawUnary("/inference.GRPCInferenceService/ServerLive", "", nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GatewayIntegrationTest, ClientDeadlineReachesTheBackend) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Milliseconds(300));
  UnaryRequest request;
  request.mutable_instruction()->set_delay_ms(20000);
  UnaryResponse response;
  grpc::Status status = stub_->Unary(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The client's library rounds the grpc-timeout it sends up to its unit
  // (so as never to shorten a deadline): a few milliseconds over, not 20 s.
  EXPECT_LE(backend_.record().last_time_left(), absl::Milliseconds(305));
  EXPECT_GT(backend_.record().last_time_left(), absl::ZeroDuration());
  EXPECT_TRUE(backend_.record().WaitForCancellation(kWait));
}

TEST_F(GatewayIntegrationTest, RouteTimeoutCapsALongerClientDeadline) {
  StartGateway("    timeout: 200ms\n");
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  UnaryRequest request;
  request.mutable_instruction()->set_delay_ms(20000);
  UnaryResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status = stub_->Unary(&context, request, &response);
  // Whichever enforces the forwarded deadline first (the gateway's timer or
  // the backend's own), the client sees DEADLINE_EXCEEDED long before 30 s.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  // The backend was told the remaining time, not the client's 30 s.
  EXPECT_LE(backend_.record().last_time_left(), absl::Milliseconds(200));
  EXPECT_TRUE(backend_.record().WaitForCancellation(kWait));
}

TEST_F(GatewayIntegrationTest, DeadlineAfterResponseHeadersEndsWithTrailers) {
  StartGateway("    timeout: 300ms\n");
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  BidiStreamRequest request;
  auto stream = stub_->BidiStream(&context);
  ASSERT_TRUE(stream->Write(request));
  BidiStreamResponse response;
  ASSERT_TRUE(stream->Read(&response));  // headers and one message came
  request.mutable_instruction()->set_delay_ms(20000);
  ASSERT_TRUE(stream->Write(request));
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(backend_.record().WaitForCancellation(kWait));
}

TEST_F(GatewayIntegrationTest, ClientCancellationReachesTheBackend) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  UnaryRequest request;
  request.mutable_instruction()->set_delay_ms(20000);
  UnaryResponse response;
  grpc::Status status;
  std::thread caller([&] { status = stub_->Unary(&context, request, &response); });
  ASSERT_TRUE(backend_.record().WaitForCalls(1, kWait));
  context.TryCancel();
  caller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(backend_.record().WaitForCancellation(kWait));
}

TEST_F(GatewayIntegrationTest, MessagesOverTheSizeLimitsAreResourceExhausted) {
  StartGateway("", "limits: { max_request_message_bytes: 1000, max_response_message_bytes: 2000 }");
  {
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    UnaryRequest request;
    request.set_payload(std::string(1500, 'x'));
    UnaryResponse response;
    const grpc::Status status = stub_->Unary(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(),
                HasSubstr("exceeds max_request_message_bytes (1000)"));
  }
  {
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    UnaryRequest request;
    request.mutable_instruction()->set_response_size(5000);
    UnaryResponse response;
    const grpc::Status status = stub_->Unary(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(),
                HasSubstr("exceeds max_response_message_bytes (2000)"));
  }
  {
    // Within both limits: answered.
    grpc::ClientContext context;
    SetDeadline(context, kWait);
    UnaryRequest request;
    request.set_payload(std::string(500, 'x'));
    UnaryResponse response;
    EXPECT_TRUE(stub_->Unary(&context, request, &response).ok());
    EXPECT_EQ(response.payload().size(), 500u);
  }
}

TEST_F(GatewayIntegrationTest, StreamsOverTheGatewaysLimitAreResourceExhausted) {
  StartGateway("", "limits: { max_active_streams: 1 }");
  grpc::ClientContext held;
  SetDeadline(held, kWait);
  UnaryRequest slow;
  slow.mutable_instruction()->set_delay_ms(20000);
  UnaryResponse held_response;
  grpc::Status held_status;
  std::thread caller([&] { held_status = stub_->Unary(&held, slow, &held_response); });
  ASSERT_TRUE(backend_.record().WaitForCalls(1, kWait));

  grpc::ClientContext context;
  SetDeadline(context, kWait);
  UnaryRequest request;
  UnaryResponse response;
  const grpc::Status status = stub_->Unary(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("max_active_streams (1) reached"));

  held.TryCancel();
  caller.join();
  // Once the held call is gone, there is room again.
  const absl::Time deadline = absl::Now() + kWait;
  grpc::Status again;
  do {
    grpc::ClientContext retry;
    SetDeadline(retry, kWait);
    again = stub_->Unary(&retry, request, &response);
  } while (!again.ok() && absl::Now() < deadline);
  EXPECT_TRUE(again.ok()) << again.error_message();
}

TEST_F(GatewayIntegrationTest, HealthCheckThroughTheMainPort) {
  std::string response;
  grpc::Status status = RawUnary("/grpc.health.v1.Health/Check", "", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));  // status: SERVING
}

TEST_F(GatewayIntegrationTest, SpansOneServerPerCallOneClientPerAttempt) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  context.AddMetadata("traceparent",
                      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  UnaryRequest request;
  UnaryResponse response;
  ASSERT_TRUE(stub_->Unary(&context, request, &response).ok());
  ASSERT_EQ(RawUnary("/unknown.v1.Nowhere/Call", "", nullptr).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  gateway_->Stop(absl::Seconds(1));  // every span ended

  auto spans = spans_->Take();
  int servers = 0;
  int clients = 0;
  for (const auto& span : spans) {
    if (span->kind() == opentelemetry::trace::SpanKind::kServer) ++servers;
    if (span->kind() == opentelemetry::trace::SpanKind::kClient) ++clients;
  }
  EXPECT_EQ(servers, 2);
  EXPECT_EQ(clients, 1);
  // The backend got the CLIENT span as parent, in the same trace.
  auto metadata = backend_.record().last_metadata();
  ASSERT_EQ(metadata.count("traceparent"), 1u);
  EXPECT_THAT(metadata.find("traceparent")->second,
              HasSubstr("0af7651916cd43dd8448eb211c80319c"));
  EXPECT_THAT(metadata.find("traceparent")->second,
              ::testing::Not(HasSubstr("b7ad6b7169203331")));
}

TEST_F(GatewayIntegrationTest, BackendNamedByHostNameIsReachedAndNamedInSpans) {
  echo_address_ = "localhost";
  StartGateway("");
  ASSERT_FALSE(gateway_->clusters()[0].endpoints.empty());
  for (const UpstreamEndpoint& endpoint : gateway_->clusters()[0].endpoints) {
    EXPECT_EQ(endpoint.host, "localhost");
    EXPECT_THAT(endpoint.address, ::testing::AnyOf("127.0.0.1", "::1"));
  }
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  UnaryRequest request;
  request.set_text("by name");
  UnaryResponse response;
  grpc::Status status = stub_->Unary(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "by name");
  gateway_->Stop(absl::Seconds(1));  // every span ended

  int clients = 0;
  for (const auto& span : spans_->Take()) {
    if (span->kind() != opentelemetry::trace::SpanKind::kClient) continue;
    ++clients;
    EXPECT_EQ(span->attribute("server.address"),
              observability::SpanRecord::Value(std::string_view("localhost")));
  }
  EXPECT_EQ(clients, 1);
}

TEST_F(GatewayIntegrationTest, StopsGracefullyWithCallsInProgress) {
  grpc::ClientContext context;
  SetDeadline(context, kWait);
  UnaryRequest request;
  request.mutable_instruction()->set_delay_ms(100);
  UnaryResponse response;
  grpc::Status status;
  std::thread caller([&] { status = stub_->Unary(&context, request, &response); });
  ASSERT_TRUE(backend_.record().WaitForCalls(1, kWait));
  gateway_->Stop(absl::Seconds(5));
  caller.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace polymesh::gateway
