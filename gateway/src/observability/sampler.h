// The head samplers that OTEL_TRACES_SAMPLER names, as the OpenTelemetry
// specification defines them: always_on, always_off, traceidratio, and the
// parent-based form of each (a span with a parent follows the parent's
// sampled flag; a root span asks the root sampler).
//
// TraceIdRatioBased looks at the trace id's last 8 bytes, as the Go and
// Python SDKs do, so that a ratio keeps the same traces in every service of
// the mesh: a trace is sampled when those bytes (big-endian) shifted right
// by one are below ratio * 2^63.
//
// Usage:
//
//   Sampler sampler = Sampler::ParentBased(Sampler::TraceIdRatio(0.25));
//   bool sampled = sampler.ShouldSample(parent_context, new_trace_id);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_SAMPLER_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_SAMPLER_H_

#include <cstdint>
#include <string>

#include "opentelemetry/trace/span_context.h"
#include "opentelemetry/trace/trace_id.h"

namespace polymesh::observability {

// A sampler: a small value, cheap to copy, thread-safe to use.
class Sampler {
 public:
  static Sampler AlwaysOn();
  static Sampler AlwaysOff();
  // `ratio` is clamped to [0, 1].
  static Sampler TraceIdRatio(double ratio);
  // `root` decides for spans without a (valid) parent.
  static Sampler ParentBased(Sampler root);

  // Whether a span in the trace `trace_id` under `parent` (invalid: a root
  // span) is sampled, and so recorded.
  bool ShouldSample(const opentelemetry::trace::SpanContext& parent,
                    const opentelemetry::trace::TraceId& trace_id) const;

  // The description opentelemetry-cpp gives the same sampler, e.g.
  // "ParentBased{TraceIdRatioBasedSampler{0.250000}}".
  std::string Description() const;

 private:
  enum class Kind : uint8_t { kAlwaysOn, kAlwaysOff, kTraceIdRatio };

  Sampler(Kind kind, double ratio, bool parent_based);
  bool SampleRoot(const opentelemetry::trace::TraceId& trace_id) const;

  Kind kind_;
  bool parent_based_;
  double ratio_;
  // TraceIdRatio: sampled when the id's last 8 bytes >> 1 are below it.
  uint64_t bound_;
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_SAMPLER_H_
