// Test-only construction of a Tracer over a span processor of the test's
// choice, with no environment involved.
//
// Usage (spans are exported synchronously as they end):
//
//   auto exporter = std::make_unique<InMemorySpanExporter>();
//   std::shared_ptr<InMemorySpanData> spans = exporter->GetData();
//   std::unique_ptr<Tracer> tracer = TracerForTest(
//       SimpleSpanProcessorFactory::Create(std::move(exporter)));
//   tracer->StartServer("/pkg.Svc/Method", "", "").End(0);
//   spans->GetSpans();  // one SERVER span
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_FOR_TEST_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_FOR_TEST_H_

#include <memory>
#include <string_view>

#include "observability/batch_processor.h"
#include "observability/batch_processor.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"
#include "opentelemetry/sdk/trace/processor.h"
#include "opentelemetry/sdk/trace/sampler.h"

namespace polymesh::observability {

// A Tracer whose spans go to `processor`, sampled by `sampler` (null: the
// default, parentbased_always_on), carrying the `semconv` attributes, with
// service.name `service_name`; its counters() are `counters`.
std::unique_ptr<Tracer> TracerForTest(
    std::unique_ptr<opentelemetry::sdk::trace::SpanProcessor> processor,
    SemconvMode semconv = SemconvMode::kDup,
    std::unique_ptr<opentelemetry::sdk::trace::Sampler> sampler = nullptr,
    std::string_view service_name = "polymesh-gateway",
    std::shared_ptr<TracingCounters> counters = nullptr);

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_FOR_TEST_H_
