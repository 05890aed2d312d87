#include "observability/tracing_for_test.h"

#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "observability/recording_tracer.h"

namespace polymesh::observability {

std::unique_ptr<Tracer> TracerForTest(std::unique_ptr<SpanProcessor> processor,
                                      SemconvMode semconv, std::optional<Sampler> sampler,
                                      std::string_view service_name,
                                      std::shared_ptr<TracingCounters> counters) {
  return NewRecordingTracer(std::move(processor), sampler.value_or(*ParseSampler("", "")),
                            *MakeResource("", "", service_name), semconv, std::move(counters));
}

}  // namespace polymesh::observability
