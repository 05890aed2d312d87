// Per-call cost of tracing on the caller's thread: one downstream call with
// one upstream attempt (StartServer, SetRoute, StartClient, End, End).
//
// Tracing on uses the production span processor (batch, exporting on its own
// thread) and the OTLP exporter's recordables, whose export is discarded, so
// that the numbers are what a worker thread pays, not what the network does.
#include <chrono>
#include <memory>
#include <utility>

#include "benchmark/benchmark.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"
#include "observability/tracing_for_test.h"
#include "opentelemetry/exporters/otlp/otlp_recordable.h"
#include "opentelemetry/sdk/trace/batch_span_processor_factory.h"
#include "opentelemetry/sdk/trace/batch_span_processor_options.h"
#include "opentelemetry/sdk/trace/exporter.h"
#include "opentelemetry/sdk/trace/samplers/always_on.h"

namespace polymesh::observability {
namespace {

namespace sdk_trace = opentelemetry::sdk::trace;

constexpr char kPath[] = "/polymesh.ai.v1.AIService/Predict";
constexpr char kSampled[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kNotSampled[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

// Builds what the OTLP exporter builds, then drops it.
class DiscardingOtlpExporter final : public sdk_trace::SpanExporter {
 public:
  std::unique_ptr<sdk_trace::Recordable> MakeRecordable() noexcept override {
    return std::make_unique<opentelemetry::exporter::otlp::OtlpRecordable>();
  }
  opentelemetry::sdk::common::ExportResult Export(
      const opentelemetry::nostd::span<std::unique_ptr<sdk_trace::Recordable>>& /*spans*/) noexcept
      override {
    return opentelemetry::sdk::common::ExportResult::kSuccess;
  }
  bool ForceFlush(std::chrono::microseconds /*timeout*/) noexcept override { return true; }
  bool Shutdown(std::chrono::microseconds /*timeout*/) noexcept override { return true; }
};

std::unique_ptr<Tracer> EnabledTracer() {
  sdk_trace::BatchSpanProcessorOptions options;
  options.max_queue_size = 1 << 16;  // the benchmark measures spans, not drops
  return TracerForTest(
      sdk_trace::BatchSpanProcessorFactory::Create(std::make_unique<DiscardingOtlpExporter>(),
                                                   options),
      SemconvMode::kDup, std::make_unique<sdk_trace::AlwaysOnSampler>());
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
  std::unique_ptr<Tracer> tracer = EnabledTracer();
  OneCall(*tracer, state.range(0) != 0 ? kSampled : "", state);
  tracer->Shutdown();
}
BENCHMARK(BM_CallSampled)->ArgName("traceparent")->Arg(0)->Arg(1);

// Tracing on, but the incoming call is not sampled: context is propagated,
// nothing is recorded.
void BM_CallNotSampled(benchmark::State& state) {
  std::unique_ptr<Tracer> tracer = TracerForTest(
      sdk_trace::BatchSpanProcessorFactory::Create(std::make_unique<DiscardingOtlpExporter>(),
                                                   sdk_trace::BatchSpanProcessorOptions{}),
      SemconvMode::kDup);
  OneCall(*tracer, kNotSampled, state);
  tracer->Shutdown();
}
BENCHMARK(BM_CallNotSampled);

}  // namespace
}  // namespace polymesh::observability

BENCHMARK_MAIN();
