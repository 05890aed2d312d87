// Cost of tracing, per call and per exported span.
//
// BM_Call*: one downstream call with one upstream attempt (StartServer,
// SetRoute, StartClient, End, End) on the caller's thread, with the
// production span processor (BatchExportProcessor, exporting on its own
// thread) and an exporter that builds the OTLP request exactly as the real
// one does, then drops it instead of sending it: the numbers are what a
// worker thread pays, not what the network does.
//
// BM_Export*: the work per span for a batch of 512 gateway spans, from
// recording them to the serialized ExportTraceServiceRequest: the gateway's
// SpanRecord written in wire format (ExportRequestWriter, what the exporter
// sends) or built on an arena (BuildExportRequest).
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "google/protobuf/arena.h"
#include "observability/batch_processor.h"
#include "observability/otlp_exporter.h"
#include "observability/span_record.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"
#include "observability/tracing_for_test.h"
#include "observability/resource.h"
#include "observability/sampler.h"
#include "observability/span_pipeline.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/trace/span_context.h"

namespace polymesh::observability {
namespace {

namespace collector = opentelemetry::proto::collector::trace::v1;
namespace trace_api = opentelemetry::trace;

constexpr char kPath[] = "/polymesh.ai.v1.AIService/Predict";
constexpr char kSampled[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kNotSampled[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

// Serializes what OtlpSpanExporter would send, then drops it.
class SerializingExporter final : public SpanExporter {
 public:
  ExportResult Export(absl::Span<const std::unique_ptr<SpanRecord>> spans) override {
    benchmark::DoNotOptimize(writer_.Write(spans).data());
    return ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::microseconds /*timeout*/) override { return true; }

 private:
  ExportRequestWriter writer_;
};

std::unique_ptr<Tracer> EnabledTracer(std::shared_ptr<TracingCounters> counters) {
  BatchOptions options;
  options.max_queue_size = 1 << 16;  // the benchmark measures spans, not drops
  options.max_export_batch_size = 512;
  return TracerForTest(std::make_unique<BatchExportProcessor>(
                           std::make_unique<SerializingExporter>(), options, counters),
                       SemconvMode::kDup, Sampler::AlwaysOn(),
                       "polymesh-gateway", counters);
}

void OneCall(Tracer& tracer, const char* traceparent, benchmark::State& state) {
  for (auto _ : state) {
    ServerSpan server = tracer.StartServer(kPath, traceparent, "");
    server.SetRoute("ai", "aiapi");
    ClientSpan client = server.StartClient("127.0.0.1", 50051);
    benchmark::DoNotOptimize(client.traceparent().data());
    client.End(0);
    server.End(0);
  }
}

void BM_CallTracingDisabled(benchmark::State& state) {
  std::unique_ptr<Tracer> tracer = *Tracer::FromEnvironment(TracerOptions{.disabled = true});
  OneCall(*tracer, state.range(0) != 0 ? kSampled : "", state);
}
BENCHMARK(BM_CallTracingDisabled)->ArgName("traceparent")->Arg(0)->Arg(1);

void BM_CallSampled(benchmark::State& state) {
  auto counters = std::make_shared<TracingCounters>();
  std::unique_ptr<Tracer> tracer = EnabledTracer(counters);
  OneCall(*tracer, state.range(0) != 0 ? kSampled : "", state);
  tracer->Shutdown();
  state.counters["dropped"] = static_cast<double>(counters->spans_dropped_queue_full.load());
}
BENCHMARK(BM_CallSampled)->ArgName("traceparent")->Arg(0)->Arg(1);

// Tracing on, but the incoming call is not sampled: context is propagated,
// nothing is recorded.
void BM_CallNotSampled(benchmark::State& state) {
  std::unique_ptr<Tracer> tracer = TracerForTest(
      std::make_unique<BatchExportProcessor>(std::make_unique<SerializingExporter>(),
                                             BatchOptions{}, nullptr),
      SemconvMode::kDup);
  OneCall(*tracer, kNotSampled, state);
  tracer->Shutdown();
}
BENCHMARK(BM_CallNotSampled);

// --- The export path, per span ----------------------------------------------

constexpr int kBatch = 512;

// Records one gateway SERVER span the way the tracer does.
void RecordServerSpan(SpanRecord& record, const Resource& resource,
                      const InstrumentationScope& scope) {
  static constexpr uint8_t kTraceId[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  static constexpr uint8_t kSpanId[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  static constexpr uint8_t kParentId[8] = {8, 7, 6, 5, 4, 3, 2, 1};
  static const trace_api::SpanContext context(trace_api::TraceId(kTraceId),
                                              trace_api::SpanId(kSpanId),
                                              trace_api::TraceFlags(1), false);
  record.SetIdentity(context, trace_api::SpanId(kParentId));
  record.SetTraceFlags(context.trace_flags());
  record.SetName("polymesh.ai.v1.AIService/Predict");
  record.SetSpanKind(trace_api::SpanKind::kServer);
  record.SetStartTime(std::chrono::system_clock::now());
  record.SetResource(resource);
  record.SetInstrumentationScope(scope);
  record.SetAttribute("rpc.system", "grpc");
  record.SetAttribute("rpc.service", "polymesh.ai.v1.AIService");
  record.SetAttribute("rpc.system.name", "grpc");
  record.SetAttribute("rpc.method", "polymesh.ai.v1.AIService/Predict");
  record.SetAttribute("polymesh.route", "ai");
  record.SetAttribute("polymesh.cluster", "aiapi");
  record.SetAttribute("rpc.grpc.status_code", int64_t{0});
  record.SetAttribute("rpc.response.status_code", "OK");
  record.SetDuration(std::chrono::microseconds(120));
}

enum class Path { kWire, kArena };

template <Path path>
void ExportBatch(benchmark::State& state) {
  ExportRequestWriter writer;
  const Resource resource{{{"service.name", "polymesh-gateway"}}};
  const InstrumentationScope scope{"polymesh.gateway", ""};
  for (auto _ : state) {
    std::vector<std::unique_ptr<SpanRecord>> spans;
    spans.reserve(kBatch);
    for (int i = 0; i < kBatch; ++i) {
      spans.push_back(std::make_unique<SpanRecord>());
      RecordServerSpan(*spans.back(), resource, scope);
    }
    const absl::Span<const std::unique_ptr<SpanRecord>> batch(spans);
    if constexpr (path == Path::kWire) {
      benchmark::DoNotOptimize(writer.Write(batch).data());
      continue;
    }
    google::protobuf::ArenaOptions arena_options;
    arena_options.start_block_size = 64 << 10;
    arena_options.max_block_size = 1 << 20;
    google::protobuf::Arena arena(arena_options);
    auto* request =
        google::protobuf::Arena::CreateMessage<collector::ExportTraceServiceRequest>(&arena);
    BuildExportRequest(batch, request);
    benchmark::DoNotOptimize(request->SerializeAsString());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// What the exporter does: SpanRecords written straight in wire format.
void BM_ExportSpanRecordWire(benchmark::State& state) {
  ExportBatch<Path::kWire>(state);
}
BENCHMARK(BM_ExportSpanRecordWire);

// SpanRecords built into an arena message (BuildExportRequest), serialized.
void BM_ExportSpanRecordArena(benchmark::State& state) {
  ExportBatch<Path::kArena>(state);
}
BENCHMARK(BM_ExportSpanRecordArena);

}  // namespace
}  // namespace polymesh::observability

BENCHMARK_MAIN();
