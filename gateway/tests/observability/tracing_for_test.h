// Test-only construction of a Tracer over a span processor of the test's
// choice, with no environment involved (the test-support library
// polymesh_observability_testing, which only tests and benchmarks link).
//
// Usage (spans are handed over synchronously as they end):
//
//   auto spans = std::make_shared<InMemorySpans>();
//   std::unique_ptr<Tracer> tracer = TracerForTest(InMemoryProcessor(spans));
//   tracer->StartServer("/pkg.Svc/Method", "", "").End(0);
//   spans->Take();  // one SERVER span
#ifndef POLYMESH_GATEWAY_TESTS_OBSERVABILITY_TRACING_FOR_TEST_H_
#define POLYMESH_GATEWAY_TESTS_OBSERVABILITY_TRACING_FOR_TEST_H_

#include <memory>
#include <optional>
#include <string_view>

#include "observability/batch_processor.h"
#include "observability/in_memory_spans.h"
#include "observability/sampler.h"
#include "observability/span_pipeline.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"

namespace polymesh::observability {

// A Tracer whose spans go to `processor`, sampled by `sampler` (none: the
// default, parentbased_always_on), carrying the `semconv` attributes, with
// service.name `service_name`; its counters() are `counters`.
std::unique_ptr<Tracer> TracerForTest(std::unique_ptr<SpanProcessor> processor,
                                      SemconvMode semconv = SemconvMode::kDup,
                                      std::optional<Sampler> sampler = std::nullopt,
                                      std::string_view service_name = "polymesh-gateway",
                                      std::shared_ptr<TracingCounters> counters = nullptr);

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_TESTS_OBSERVABILITY_TRACING_FOR_TEST_H_
