// Tracer::FromEnvironment end to end: the OTEL_* variables in, OTLP/gRPC out
// to a collector served by the test on a port the OS picks.
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "observability/tracing.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace polymesh::observability {
namespace {

namespace otlp = ::opentelemetry::proto;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kPath[] = "/polymesh.testing.v1.EchoService/Unary";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Every variable the tracer or the SDK's exporter reads; each test starts
// with none of them set and gets the process's values back at its end.
const char* const kVariables[] = {
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
};

// An OTLP trace collector that keeps what it receives.
class FakeCollector final : public otlp::collector::trace::v1::TraceService::Service {
 public:
  grpc::Status Export(grpc::ServerContext* /*context*/,
                      const otlp::collector::trace::v1::ExportTraceServiceRequest* request,
                      otlp::collector::trace::v1::ExportTraceServiceResponse* /*response*/)
      override {
    absl::MutexLock lock(&mu_);
    for (const otlp::trace::v1::ResourceSpans& resource_spans : request->resource_spans()) {
      resource_spans_.push_back(resource_spans);
    }
    return grpc::Status::OK;
  }

  std::vector<otlp::trace::v1::ResourceSpans> resource_spans() {
    absl::MutexLock lock(&mu_);
    return resource_spans_;
  }

 private:
  absl::Mutex mu_;
  std::vector<otlp::trace::v1::ResourceSpans> resource_spans_ ABSL_GUARDED_BY(mu_);
};

// Every span received, whatever the batches were.
std::vector<otlp::trace::v1::Span> AllSpans(
    const std::vector<otlp::trace::v1::ResourceSpans>& received) {
  std::vector<otlp::trace::v1::Span> spans;
  for (const otlp::trace::v1::ResourceSpans& resource_spans : received) {
    for (const otlp::trace::v1::ScopeSpans& scope_spans : resource_spans.scope_spans()) {
      spans.insert(spans.end(), scope_spans.spans().begin(), scope_spans.spans().end());
    }
  }
  return spans;
}

std::optional<std::string> StringValue(
    const google::protobuf::RepeatedPtrField<otlp::common::v1::KeyValue>& attributes,
    const std::string& key) {
  for (const otlp::common::v1::KeyValue& attribute : attributes) {
    if (attribute.key() == key) return attribute.value().string_value();
  }
  return std::nullopt;
}

std::optional<int64_t> IntValue(
    const google::protobuf::RepeatedPtrField<otlp::common::v1::KeyValue>& attributes,
    const std::string& key) {
  for (const otlp::common::v1::KeyValue& attribute : attributes) {
    if (attribute.key() == key) return attribute.value().int_value();
  }
  return std::nullopt;
}

class TracerFromEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) {
      const char* value = std::getenv(name);
      if (value != nullptr) saved_[name] = value;
    }
    ClearAll();
  }

  static void ClearAll() {
    for (const char* name : kVariables) unsetenv(name);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    for (const char* name : kVariables) {
      auto it = saved_.find(name);
      if (it == saved_.end()) {
        unsetenv(name);
      } else {
        setenv(name, it->second.c_str(), 1);
      }
    }
  }

  static void Set(const char* name, const std::string& value) { setenv(name, value.c_str(), 1); }

  // Starts the collector; returns its endpoint URL.
  std::string StartCollector() {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&collector_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    EXPECT_NE(port, 0);
    return "http://127.0.0.1:" + std::to_string(port);
  }

  static absl::StatusCode ErrorOf(const TracerOptions& options, std::string* message) {
    absl::StatusOr<std::unique_ptr<Tracer>> tracer = Tracer::FromEnvironment(options);
    *message = std::string(tracer.status().message());
    return tracer.status().code();
  }

  FakeCollector collector_;
  std::unique_ptr<grpc::Server> server_;
  std::map<std::string, std::string> saved_;
};

TEST_F(TracerFromEnvironmentTest, ExportsSpansWithResourceAndAttributesOverOtlpGrpc) {
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", StartCollector());
  Set("OTEL_SERVICE_NAME", "gateway-under-test");
  Set("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,service.name=overridden");
  Set("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup");
  absl::StatusOr<std::unique_ptr<Tracer>> tracer = Tracer::FromEnvironment(TracerOptions{});
  ASSERT_TRUE(tracer.ok()) << tracer.status();

  ServerSpan server = (*tracer)->StartServer(kPath, kTraceparent, "");
  server.SetRoute("echo", "echo-cluster");
  ClientSpan client = server.StartClient("127.0.0.1", 50052);
  client.End(0);
  server.End(0);
  (*tracer)->Shutdown();  // exports what is buffered before it returns

  std::vector<otlp::trace::v1::ResourceSpans> received = collector_.resource_spans();
  ASSERT_THAT(received, ::testing::Not(::testing::IsEmpty()));
  for (const otlp::trace::v1::ResourceSpans& resource_spans : received) {
    const auto& resource = resource_spans.resource().attributes();
    EXPECT_EQ(StringValue(resource, "service.name"), "gateway-under-test");
    EXPECT_EQ(StringValue(resource, "deployment.environment"), "test");
    EXPECT_EQ(StringValue(resource, "telemetry.sdk.language"), "cpp");
  }
  const std::vector<otlp::trace::v1::Span> spans = AllSpans(received);
  ASSERT_THAT(spans, SizeIs(2));
  const otlp::trace::v1::Span& client_span = spans[0];
  const otlp::trace::v1::Span& server_span = spans[1];
  EXPECT_EQ(server_span.kind(), otlp::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(client_span.kind(), otlp::trace::v1::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(server_span.name(), "polymesh.testing.v1.EchoService/Unary");
  EXPECT_EQ(client_span.parent_span_id(), server_span.span_id());
  EXPECT_EQ(client_span.trace_id(), server_span.trace_id());
  EXPECT_EQ(StringValue(server_span.attributes(), "rpc.method"),
            "polymesh.testing.v1.EchoService/Unary");
  EXPECT_EQ(StringValue(server_span.attributes(), "rpc.service"),
            "polymesh.testing.v1.EchoService");
  EXPECT_EQ(StringValue(server_span.attributes(), "rpc.response.status_code"), "OK");
  EXPECT_EQ(IntValue(server_span.attributes(), "rpc.grpc.status_code"), 0);
  EXPECT_EQ(StringValue(server_span.attributes(), "polymesh.route"), "echo");
  EXPECT_EQ(StringValue(client_span.attributes(), "server.address"), "127.0.0.1");
  EXPECT_EQ(IntValue(client_span.attributes(), "server.port"), 50052);
}

TEST_F(TracerFromEnvironmentTest, SignalSpecificEndpointWins) {
  Set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", StartCollector());
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1");
  absl::StatusOr<std::unique_ptr<Tracer>> tracer = Tracer::FromEnvironment(TracerOptions{});
  ASSERT_TRUE(tracer.ok()) << tracer.status();
  (*tracer)->StartServer(kPath, kTraceparent, "").End(0);
  (*tracer)->Shutdown();
  EXPECT_THAT(AllSpans(collector_.resource_spans()), SizeIs(1));
}

TEST_F(TracerFromEnvironmentTest, SamplerComesFromTheEnvironment) {
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", StartCollector());
  Set("OTEL_TRACES_SAMPLER", "always_off");
  absl::StatusOr<std::unique_ptr<Tracer>> tracer = Tracer::FromEnvironment(TracerOptions{});
  ASSERT_TRUE(tracer.ok()) << tracer.status();
  ServerSpan server = (*tracer)->StartServer(kPath, kTraceparent, "");
  ClientSpan client = server.StartClient("127.0.0.1", 50052);
  // Not sampled, yet the trace goes on upstream.
  EXPECT_THAT(client.traceparent(), StartsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
  client.End(0);
  server.End(0);
  (*tracer)->Shutdown();
  EXPECT_THAT(collector_.resource_spans(), SizeIs(0));
}

TEST_F(TracerFromEnvironmentTest, DefaultServiceNameComesFromOptions) {
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", StartCollector());
  Set("OTEL_TRACES_SAMPLER", "always_on");
  absl::StatusOr<std::unique_ptr<Tracer>> tracer =
      Tracer::FromEnvironment(TracerOptions{.default_service_name = "fallback-name"});
  ASSERT_TRUE(tracer.ok()) << tracer.status();
  (*tracer)->StartServer(kPath, "", "").End(0);
  (*tracer)->Shutdown();
  std::vector<otlp::trace::v1::ResourceSpans> received = collector_.resource_spans();
  ASSERT_THAT(received, SizeIs(1));
  EXPECT_EQ(StringValue(received[0].resource().attributes(), "service.name"), "fallback-name");
  EXPECT_THAT(AllSpans(received), SizeIs(1));
}

TEST_F(TracerFromEnvironmentTest, DisabledRecordsNothingAndForwardsContext) {
  const std::string endpoint = StartCollector();
  for (bool by_option : {true, false}) {
    SCOPED_TRACE(by_option ? "TracerOptions.disabled" : "OTEL_SDK_DISABLED");
    Set("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    if (!by_option) Set("OTEL_SDK_DISABLED", "true");
    absl::StatusOr<std::unique_ptr<Tracer>> tracer =
        Tracer::FromEnvironment(TracerOptions{.disabled = by_option});
    ASSERT_TRUE(tracer.ok()) << tracer.status();
    ServerSpan server = (*tracer)->StartServer(kPath, kTraceparent, "k=v");
    ClientSpan client = server.StartClient("127.0.0.1", 50052);
    EXPECT_EQ(client.traceparent(), kTraceparent);
    EXPECT_EQ(client.tracestate(), "k=v");
    client.End(0);
    server.End(0);
    (*tracer)->Shutdown();
  }
  EXPECT_THAT(collector_.resource_spans(), SizeIs(0));
}

TEST_F(TracerFromEnvironmentTest, DisabledByOptionIgnoresTheEnvironment) {
  Set("OTEL_TRACES_SAMPLER", "sometimes");
  EXPECT_TRUE(Tracer::FromEnvironment(TracerOptions{.disabled = true}).ok());
}

TEST_F(TracerFromEnvironmentTest, UnsetEndpointDoesNotCrash) {
  // The SDK's default, http://localhost:4317; nothing is sampled, so nothing
  // is sent to whatever may listen there.
  Set("OTEL_TRACES_SAMPLER", "always_off");
  absl::StatusOr<std::unique_ptr<Tracer>> tracer = Tracer::FromEnvironment(TracerOptions{});
  ASSERT_TRUE(tracer.ok()) << tracer.status();
  ServerSpan server = (*tracer)->StartServer(kPath, "", "");
  server.StartClient("127.0.0.1", 50052).End(0);
  server.End(0);
  (*tracer)->Shutdown();
  (*tracer)->Shutdown();  // a second call is harmless
}

TEST_F(TracerFromEnvironmentTest, EmptyEndpointMeansUnset) {
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", "");
  Set("OTEL_TRACES_SAMPLER", "always_off");
  EXPECT_TRUE(Tracer::FromEnvironment(TracerOptions{}).ok());
}

TEST_F(TracerFromEnvironmentTest, MalformedVariablesAreInvalidArgumentsNamingThem) {
  struct Case {
    const char* variable;
    const char* value;
  };
  const Case kCases[] = {
      {"OTEL_TRACES_SAMPLER", "sometimes"},
      {"OTEL_TRACES_SAMPLER_ARG", "2"},  // with the sampler below
      {"OTEL_RESOURCE_ATTRIBUTES", "novalue"},
      {"OTEL_SDK_DISABLED", "maybe"},
      {"OTEL_BSP_SCHEDULE_DELAY", "later"},
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:port"},
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://:4317"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.variable);
    ClearAll();
    if (std::string(c.variable) == "OTEL_TRACES_SAMPLER_ARG") {
      Set("OTEL_TRACES_SAMPLER", "parentbased_traceidratio");
    }
    Set(c.variable, c.value);
    std::string message;
    EXPECT_EQ(ErrorOf(TracerOptions{}, &message), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(message, StartsWith(std::string(c.variable) + "="));
    EXPECT_THAT(message, HasSubstr(c.value));
  }
}

}  // namespace
}  // namespace polymesh::observability
