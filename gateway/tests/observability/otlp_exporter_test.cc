// The OTLP/gRPC span exporter and the batch processor against a real OTLP
// trace receiver (a gRPC server implementing TraceService) in this process,
// on a port the OS picks.
#include "observability/otlp_exporter.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "observability/batch_processor.h"
#include "observability/otlp_options.h"
#include "observability/span_record.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"
#include "observability/tracing_for_test.h"
#include "observability/tracing_metrics.h"
#include "observability/resource.h"
#include "observability/sampler.h"
#include "observability/span_pipeline.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "opentelemetry/trace/span_context.h"

namespace polymesh::observability {
namespace {

namespace otlp = ::opentelemetry::proto;
namespace trace_api = ::opentelemetry::trace;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::SizeIs;

// An OTLP trace receiver that keeps every request and the metadata it came
// with; it can be told to fail or to hold calls.
class Receiver final : public otlp::collector::trace::v1::TraceService::Service {
 public:
  grpc::Status Export(grpc::ServerContext* context,
                      const otlp::collector::trace::v1::ExportTraceServiceRequest* request,
                      otlp::collector::trace::v1::ExportTraceServiceResponse* /*response*/)
      override {
    started_.fetch_add(1);
    if (hold_ != nullptr) hold_->WaitForNotification();
    absl::MutexLock lock(&mu_);
    requests_.push_back(*request);
    for (const auto& [key, value] : context->client_metadata()) {
      metadata_.emplace_back(std::string(key.data(), key.size()),
                             std::string(value.data(), value.size()));
    }
    if (fail_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "receiver says no");
    return grpc::Status::OK;
  }

  std::vector<otlp::collector::trace::v1::ExportTraceServiceRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<std::pair<std::string, std::string>> metadata() {
    absl::MutexLock lock(&mu_);
    return metadata_;
  }
  size_t span_count() {
    absl::MutexLock lock(&mu_);
    size_t count = 0;
    for (const auto& request : requests_) {
      for (const auto& resource_spans : request.resource_spans()) {
        for (const auto& scope_spans : resource_spans.scope_spans()) {
          count += static_cast<size_t>(scope_spans.spans_size());
        }
      }
    }
    return count;
  }
  void set_fail(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_ = fail;
  }
  // Calls wait for `hold` before they are answered (set before any call).
  void set_hold(absl::Notification* hold) { hold_ = hold; }
  // Calls that arrived, answered or not.
  int started() const { return started_.load(); }

 private:
  absl::Mutex mu_;
  std::vector<otlp::collector::trace::v1::ExportTraceServiceRequest> requests_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> metadata_ ABSL_GUARDED_BY(mu_);
  bool fail_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification* hold_ = nullptr;
  std::atomic<int> started_{0};
};

class OtlpExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&receiver_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }

  OtlpOptions Options() const {
    OtlpOptions options;
    options.target = "127.0.0.1:" + std::to_string(port_);
    options.use_tls = false;
    options.timeout = std::chrono::seconds(10);
    return options;
  }

  Receiver receiver_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

template <size_t N>
std::string Bytes(const std::array<uint8_t, N>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), N);
}

const otlp::common::v1::AnyValue* Find(
    const google::protobuf::RepeatedPtrField<otlp::common::v1::KeyValue>& attributes,
    const std::string& key) {
  for (const otlp::common::v1::KeyValue& attribute : attributes) {
    if (attribute.key() == key) return &attribute.value();
  }
  return nullptr;
}

TEST_F(OtlpExporterTest, SendsEveryFieldOfASpan) {
  const Resource resource{
      {{"service.name", "exporter-under-test"}, {"deployment.environment", "test"}}};
  const InstrumentationScope scope{"polymesh.gateway", "1.2.3"};
  constexpr std::array<uint8_t, 16> kTraceId = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                                0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  constexpr std::array<uint8_t, 8> kSpanId = {0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  constexpr std::array<uint8_t, 8> kParentId = {1, 2, 3, 4, 5, 6, 7, 8};
  const trace_api::SpanContext context(
      trace_api::TraceId(kTraceId), trace_api::SpanId(kSpanId), trace_api::TraceFlags(1), false,
      trace_api::TraceState::FromHeader("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));

  OtlpSpanExporter exporter(Options());
  std::vector<std::unique_ptr<SpanRecord>> spans;
  spans.push_back(std::make_unique<SpanRecord>());
  SpanRecord& span = *spans.back();
  span.SetIdentity(context, trace_api::SpanId(kParentId));
  span.SetTraceFlags(context.trace_flags());
  span.SetName("polymesh.ai.v1.AIService/Predict");
  span.SetSpanKind(trace_api::SpanKind::kServer);
  const auto start = std::chrono::system_clock::time_point(std::chrono::nanoseconds(
      1'700'000'000'123'456'789));
  span.SetStartTime(start);
  span.SetResource(resource);
  span.SetInstrumentationScope(scope);
  span.SetAttribute("rpc.method", "polymesh.ai.v1.AIService/Predict");
  span.SetAttribute("server.port", int64_t{50051});
  span.SetAttribute("small", int64_t{-7});
  span.SetAttribute("flag", true);
  span.SetAttribute("ratio", 0.25);
  const std::string long_key(300, 'k');
  const std::string long_value(600, 'v');
  span.SetAttribute(long_key, long_value);  // past the inline buffer
  span.SetStatus(trace_api::StatusCode::kError, "upstream unavailable");
  span.SetDuration(std::chrono::microseconds(1500));

  ASSERT_EQ(exporter.Export(spans), ExportResult::kSuccess);

  const auto requests = receiver_.requests();
  ASSERT_THAT(requests, SizeIs(1));
  ASSERT_THAT(requests[0].resource_spans(), SizeIs(1));
  const otlp::trace::v1::ResourceSpans& resource_spans = requests[0].resource_spans(0);
  EXPECT_EQ(Find(resource_spans.resource().attributes(), "service.name")->string_value(),
            "exporter-under-test");
  EXPECT_EQ(Find(resource_spans.resource().attributes(), "deployment.environment")->string_value(),
            "test");
  ASSERT_THAT(resource_spans.scope_spans(), SizeIs(1));
  const otlp::trace::v1::ScopeSpans& scope_spans = resource_spans.scope_spans(0);
  EXPECT_EQ(scope_spans.scope().name(), "polymesh.gateway");
  EXPECT_EQ(scope_spans.scope().version(), "1.2.3");
  ASSERT_THAT(scope_spans.spans(), SizeIs(1));
  const otlp::trace::v1::Span& out = scope_spans.spans(0);
  EXPECT_EQ(out.trace_id(), Bytes(kTraceId));
  EXPECT_EQ(out.span_id(), Bytes(kSpanId));
  EXPECT_EQ(out.parent_span_id(), Bytes(kParentId));
  EXPECT_EQ(out.trace_state(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  EXPECT_EQ(out.flags(), 1u);
  EXPECT_EQ(out.name(), "polymesh.ai.v1.AIService/Predict");
  EXPECT_EQ(out.kind(), otlp::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(out.start_time_unix_nano(), 1'700'000'000'123'456'789u);
  EXPECT_EQ(out.end_time_unix_nano(), 1'700'000'000'123'456'789u + 1'500'000u);
  std::vector<std::string> keys;
  for (const auto& attribute : out.attributes()) keys.push_back(attribute.key());
  EXPECT_THAT(keys, ElementsAre("rpc.method", "server.port", "small", "flag", "ratio", long_key));
  EXPECT_EQ(Find(out.attributes(), "rpc.method")->string_value(),
            "polymesh.ai.v1.AIService/Predict");
  EXPECT_EQ(Find(out.attributes(), "server.port")->int_value(), 50051);
  EXPECT_EQ(Find(out.attributes(), "small")->int_value(), -7);
  EXPECT_TRUE(Find(out.attributes(), "flag")->bool_value());
  EXPECT_EQ(Find(out.attributes(), "ratio")->double_value(), 0.25);
  EXPECT_EQ(Find(out.attributes(), long_key)->string_value(), long_value);
  EXPECT_THAT(out.events(), SizeIs(0));
  EXPECT_THAT(out.links(), SizeIs(0));
  EXPECT_EQ(out.status().code(), otlp::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(out.status().message(), "upstream unavailable");
}

// The wire writer's bytes parse to exactly the message BuildExportRequest
// builds, for spans of two resources and two scopes, with every kind of
// field (and without the optional ones).
TEST(ExportRequestWriterTest, WritesWhatBuildExportRequestBuilds) {
  const Resource resource_a{{{"service.name", "a"}, {"count", "3"}}};
  const Resource resource_b{{{"service.name", "b"}}};
  const InstrumentationScope scope_a{"one", "1"};
  const InstrumentationScope scope_b{"two", ""};
  std::vector<std::unique_ptr<SpanRecord>> spans;
  const Resource* resources[] = {&resource_a, &resource_b};
  const InstrumentationScope* scopes[] = {&scope_a, &scope_b};
  for (int i = 0; i < 12; ++i) {
    spans.push_back(std::make_unique<SpanRecord>());
    SpanRecord& span = *spans.back();
    uint8_t trace_id[16];
    uint8_t span_id[8];
    std::memset(trace_id, i + 1, sizeof(trace_id));
    std::memset(span_id, i + 100, sizeof(span_id));
    span.SetIdentity(
        trace_api::SpanContext(
            trace_api::TraceId(trace_id), trace_api::SpanId(span_id),
            trace_api::TraceFlags(static_cast<uint8_t>(i % 2)), false,
            i % 3 == 0 ? trace_api::TraceState::FromHeader("k=v") : trace_api::TraceState::GetDefault()),
        i % 4 == 0 ? trace_api::SpanId() : trace_api::SpanId(span_id));
    span.SetTraceFlags(trace_api::TraceFlags(static_cast<uint8_t>(i % 2)));
    span.SetName(std::string(static_cast<size_t>(i * 20), 'n'));
    span.SetSpanKind(static_cast<trace_api::SpanKind>(i % 5));
    span.SetStartTime(
        std::chrono::system_clock::time_point(std::chrono::nanoseconds(int64_t{1} << (30 + i))));
    span.SetDuration(std::chrono::nanoseconds(i * 1000));
    if (i != 5) span.SetResource(*resources[i % 2]);
    if (i != 7) span.SetInstrumentationScope(*scopes[(i / 2) % 2]);
    const std::string text(static_cast<size_t>(i * 30), 'v');
    span.SetAttribute("s", text);
    span.SetAttribute("i", int64_t{-1} * i * 100000);
    span.SetAttribute("b", i % 2 == 0);
    span.SetAttribute("d", i * 0.5);
    if (i % 3 != 0) {
      span.SetStatus(i % 3 == 1 ? trace_api::StatusCode::kError : trace_api::StatusCode::kOk,
                     i % 3 == 1 ? std::string(static_cast<size_t>(i * 15), 'm') : "");
    }
  }
  const absl::Span<const std::unique_ptr<SpanRecord>> batch(spans);
  google::protobuf::Arena arena;
  auto* built =
      google::protobuf::Arena::CreateMessage<otlp::collector::trace::v1::ExportTraceServiceRequest>(
          &arena);
  BuildExportRequest(batch, built);
  ExportRequestWriter writer;
  for (int round = 0; round < 2; ++round) {  // buffers reused: same bytes
    otlp::collector::trace::v1::ExportTraceServiceRequest parsed;
    const std::string_view bytes = writer.Write(batch);
    ASSERT_TRUE(parsed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    std::string differences;
    google::protobuf::util::MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(*built, parsed)) << differences;
  }
  EXPECT_EQ(built->resource_spans_size(), 3);  // a, b and none
}

TEST_F(OtlpExporterTest, SpanWithoutParentStatusOrTraceStateLeavesThemEmpty) {
  OtlpSpanExporter exporter(Options());
  std::vector<std::unique_ptr<SpanRecord>> spans;
  spans.push_back(std::make_unique<SpanRecord>());
  constexpr std::array<uint8_t, 16> kTraceId = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  constexpr std::array<uint8_t, 8> kSpanId = {2, 2, 2, 2, 2, 2, 2, 2};
  spans.back()->SetIdentity(
      trace_api::SpanContext(trace_api::TraceId(kTraceId), trace_api::SpanId(kSpanId),
                             trace_api::TraceFlags(0), false),
      trace_api::SpanId());
  spans.back()->SetName("n");
  spans.back()->SetSpanKind(trace_api::SpanKind::kClient);
  spans.back()->SetStatus(trace_api::StatusCode::kOk, "ignored without an error");
  ASSERT_EQ(exporter.Export(spans), ExportResult::kSuccess);
  const auto requests = receiver_.requests();
  ASSERT_THAT(requests, SizeIs(1));
  // No resource, no scope: still one ResourceSpans and ScopeSpans, empty.
  const otlp::trace::v1::Span& out = requests[0].resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(out.parent_span_id(), "");
  EXPECT_EQ(out.trace_state(), "");
  EXPECT_EQ(out.flags(), 0u);
  EXPECT_EQ(out.kind(), otlp::trace::v1::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(out.status().code(), otlp::trace::v1::Status::STATUS_CODE_OK);
  EXPECT_EQ(out.status().message(), "");
}

// Headers, user agent and compression as OTEL_EXPORTER_OTLP_* configure them
// (gRPC decompresses before the service sees a request, so gzip shows as a
// call that works).
TEST_F(OtlpExporterTest, SendsConfiguredHeadersAndUserAgentCompressed) {
  OtlpOptions options = Options();
  options.headers.emplace_back("api-key", "secret");
  options.headers.emplace_back("tenant", "polymesh");
  options.gzip = true;
  auto counters = std::make_shared<TracingCounters>();
  std::unique_ptr<Tracer> tracer = TracerForTest(
      std::make_unique<BatchExportProcessor>(std::make_unique<OtlpSpanExporter>(options),
                                             BatchOptions{}, counters),
      SemconvMode::kDup, std::nullopt, "polymesh-gateway", counters);
  tracer->StartServer("/pkg.Svc/Method", "", "").End(0);
  tracer->Shutdown();
  EXPECT_EQ(receiver_.span_count(), 1u);
  const auto metadata = receiver_.metadata();
  EXPECT_THAT(metadata, ::testing::Contains(Pair("api-key", "secret")));
  EXPECT_THAT(metadata, ::testing::Contains(Pair("tenant", "polymesh")));
  EXPECT_THAT(metadata, ::testing::Contains(
                            Pair("user-agent", ::testing::StartsWith("OTel-OTLP-Exporter-Cpp-polymesh/"))));
  EXPECT_EQ(counters->spans_exported.load(), 1u);
}

TEST_F(OtlpExporterTest, FailedExportsAreCountedAsDropped) {
  receiver_.set_fail(true);
  auto counters = std::make_shared<TracingCounters>();
  std::unique_ptr<Tracer> tracer = TracerForTest(
      std::make_unique<BatchExportProcessor>(std::make_unique<OtlpSpanExporter>(Options()),
                                             BatchOptions{}, counters),
      SemconvMode::kDup, std::nullopt, "polymesh-gateway", counters);
  ServerSpan server = tracer->StartServer("/pkg.Svc/Method", "", "");
  server.StartClient("127.0.0.1", 1).End(14);
  server.End(14);
  tracer->Shutdown();
  EXPECT_EQ(counters->spans_exported.load(), 0u);
  EXPECT_EQ(counters->spans_dropped_export_failed.load(), 2u);

  // The same counts, as /metrics shows them.
  std::vector<prometheus::MetricFamily> families = TracingCollector(counters).Collect();
  ASSERT_THAT(families, SizeIs(3));
  EXPECT_EQ(families[0].name, "polymesh_gateway_spans_exported_total");
  EXPECT_EQ(families[0].metric[0].counter.value, 0);
  EXPECT_EQ(families[1].name, "polymesh_gateway_spans_dropped_total");
  ASSERT_THAT(families[1].metric, SizeIs(2));
  EXPECT_EQ(families[1].metric[0].label[0].value, "queue_full");
  EXPECT_EQ(families[1].metric[0].counter.value, 0);
  EXPECT_EQ(families[1].metric[1].label[0].value, "export_failed");
  EXPECT_EQ(families[1].metric[1].counter.value, 2);
  EXPECT_EQ(families[2].name, "polymesh_gateway_span_exports_total");
  EXPECT_EQ(families[2].metric[0].counter.value, 1);
}

TEST_F(OtlpExporterTest, UnreachableCollectorFailsWithinTheTimeout) {
  OtlpOptions options = Options();
  options.target = "127.0.0.1:1";
  options.timeout = std::chrono::milliseconds(200);
  OtlpSpanExporter exporter(options);
  std::vector<std::unique_ptr<SpanRecord>> spans;
  spans.push_back(std::make_unique<SpanRecord>());
  EXPECT_EQ(exporter.Export(spans), ExportResult::kFailure);
  exporter.Shutdown(std::chrono::microseconds(0));
  EXPECT_EQ(exporter.Export(spans), ExportResult::kFailure);
}

TEST_F(OtlpExporterTest, NoSpanIsDroppedUnderConcurrentLoad) {
  // 4 threads x 50 streams' worth of calls, two spans each, with the
  // gateway's default queue.
  auto counters = std::make_shared<TracingCounters>();
  absl::StatusOr<BatchOptions> options =
      ParseBatchSpanProcessorOptions("", "", "");
  ASSERT_TRUE(options.ok());
  std::unique_ptr<Tracer> tracer = TracerForTest(
      std::make_unique<BatchExportProcessor>(std::make_unique<OtlpSpanExporter>(Options()),
                                             *options, counters),
      SemconvMode::kDup, Sampler::AlwaysOn(), "polymesh-gateway",
      counters);
  constexpr int kThreads = 4;
  constexpr int kCalls = 50 * 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&tracer] {
      for (int i = 0; i < kCalls; ++i) {
        ServerSpan server = tracer->StartServer("/pkg.Svc/Method", "", "");
        server.SetRoute("route", "cluster");
        server.StartClient("127.0.0.1", 50051).End(0);
        server.End(0);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  tracer->Shutdown();
  EXPECT_EQ(counters->spans_dropped_queue_full.load(), 0u);
  EXPECT_EQ(counters->spans_exported.load(), 2u * kThreads * kCalls);
  EXPECT_EQ(receiver_.span_count(), 2u * kThreads * kCalls);
  // Full batches: far fewer requests than spans.
  EXPECT_LE(counters->exports.load(), 2u * kThreads * kCalls / 512 + 2 * kThreads);
}

TEST_F(OtlpExporterTest, FullQueueDropsAndCounts) {
  absl::Notification release;
  receiver_.set_hold(&release);
  auto counters = std::make_shared<TracingCounters>();
  BatchOptions options;
  options.max_queue_size = 4;
  options.max_export_batch_size = 2;
  std::unique_ptr<Tracer> tracer = TracerForTest(
      std::make_unique<BatchExportProcessor>(std::make_unique<OtlpSpanExporter>(Options()),
                                             options, counters),
      SemconvMode::kDup, std::nullopt, "polymesh-gateway", counters);
  // The first full batch goes out and is held by the receiver; then the
  // queue fills up and the rest is dropped.
  for (int i = 0; i < 2; ++i) tracer->StartServer("/pkg.Svc/Method", "", "").End(0);
  for (int i = 0; i < 1000 && receiver_.started() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(receiver_.started(), 1);
  for (int i = 0; i < 20; ++i) tracer->StartServer("/pkg.Svc/Method", "", "").End(0);
  release.Notify();
  tracer->Shutdown();
  EXPECT_EQ(counters->spans_dropped_queue_full.load(), 16u);
  EXPECT_EQ(counters->spans_exported.load(), 6u);
  EXPECT_EQ(receiver_.span_count(), counters->spans_exported.load());
}

TEST_F(OtlpExporterTest, LoneSpanLeavesAfterTheScheduleDelay) {
  auto counters = std::make_shared<TracingCounters>();
  BatchOptions options;
  options.schedule_delay = std::chrono::milliseconds(50);
  std::unique_ptr<Tracer> tracer = TracerForTest(
      std::make_unique<BatchExportProcessor>(std::make_unique<OtlpSpanExporter>(Options()),
                                             options, counters),
      SemconvMode::kDup, std::nullopt, "polymesh-gateway", counters);
  tracer->StartServer("/pkg.Svc/Method", "", "").End(0);
  // No flush: the delay alone sends it (bounded wait, no timing asserted).
  for (int i = 0; i < 500 && receiver_.span_count() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(receiver_.span_count(), 1u);
  // Once the queue has drained, the export threads wait with no deadline:
  // the next lone span must wake one, not wait for a full batch.
  tracer->StartServer("/pkg.Svc/Method", "", "").End(0);
  for (int i = 0; i < 500 && receiver_.span_count() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(receiver_.span_count(), 2u);
  tracer->Shutdown();
}

}  // namespace
}  // namespace polymesh::observability
