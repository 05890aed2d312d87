// A Tracer that records spans, over a span processor, a sampler and a
// resource of the caller's choice: Tracer::FromEnvironment builds one over
// the OTLP exporter from the OTEL_* variables; tests and benchmarks build
// theirs over in-memory or fake processors.
//
// Usage:
//
//   std::unique_ptr<Tracer> tracer = NewRecordingTracer(
//       std::move(processor), *ParseSampler("", ""), *MakeResource("", "", "svc"),
//       SemconvMode::kStable, /*counters=*/nullptr);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_RECORDING_TRACER_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_RECORDING_TRACER_H_

#include <memory>

#include "observability/batch_processor.h"
#include "observability/resource.h"
#include "observability/sampler.h"
#include "observability/span_pipeline.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"

namespace polymesh::observability {

// A Tracer whose spans go to `processor`, sampled by `sampler`, with the
// resource `resource`, carrying the `semconv` attributes; its counters() are
// `counters` (nullptr: none).
std::unique_ptr<Tracer> NewRecordingTracer(std::unique_ptr<SpanProcessor> processor,
                                           Sampler sampler, Resource resource,
                                           SemconvMode semconv,
                                           std::shared_ptr<TracingCounters> counters);

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_RECORDING_TRACER_H_
