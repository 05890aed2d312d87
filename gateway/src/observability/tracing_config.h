// The tracer's configuration from the standard OTEL_* environment variables:
// OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_SEMCONV_STABILITY_OPT_IN, and
// the exporter's OTEL_EXPORTER_OTLP_* (otlp_options.h). Every parser takes
// the values (an empty value means "unset", as the specification says) so
// that it can be tested without touching the environment;
// ReadTracingEnvironment() reads them all.
//
// Usage:
//
//   absl::StatusOr<TracingEnvironment> env =
//       ReadTracingEnvironment("polymesh-gateway");
//   if (!env.ok()) return env.status();  // INVALID_ARGUMENT naming the variable
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_CONFIG_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "observability/batch_processor.h"
#include "observability/otlp_options.h"
#include "observability/resource.h"
#include "observability/sampler.h"

namespace polymesh::observability {

// Which RPC semantic conventions the spans carry, from
// OTEL_SEMCONV_STABILITY_OPT_IN.
enum class SemconvMode {
  // Unset: the old conventions only (rpc.system, rpc.service, short
  // rpc.method, rpc.grpc.status_code).
  kOld,
  // `rpc`: the new conventions only (rpc.system.name, fully-qualified
  // rpc.method, rpc.response.status_code).
  kNew,
  // `rpc/dup`: both; rpc.method takes the new, fully-qualified value.
  kDup,
};

// Parses OTEL_SEMCONV_STABILITY_OPT_IN, a comma-separated list in which only
// `rpc` and `rpc/dup` matter here (`rpc/dup` wins); other entries belong to
// other instrumentations and are ignored. Never fails.
SemconvMode ParseSemconvStabilityOptIn(std::string_view value);

// INVALID_ARGUMENT for the malformed `value` of an environment `variable`:
// `VARIABLE="value": why`.
absl::Status MalformedVariable(std::string_view variable, std::string_view value,
                               std::string_view why);

// Parses a `key1=value1,key2=value2` list (the W3C Baggage format without
// properties, as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS use
// it): blanks around keys and values trimmed, values percent-decoded, empty
// entries skipped. Fails with INVALID_ARGUMENT naming `variable` on an entry
// without `=`, an empty key or a bad percent escape.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseKeyValueList(
    std::string_view variable, std::string_view value);

// Parses a boolean variable: "true" or "false" (any case, blanks around
// them trimmed), empty for false; INVALID_ARGUMENT naming `variable` else.
absl::StatusOr<bool> ParseBooleanVariable(std::string_view variable, std::string_view value);

// Parses OTEL_SDK_DISABLED (ParseBooleanVariable).
absl::StatusOr<bool> ParseSdkDisabled(std::string_view value);

// Builds the sampler named by OTEL_TRACES_SAMPLER (`sampler`) with the
// argument OTEL_TRACES_SAMPLER_ARG (`arg`): always_on, always_off,
// traceidratio, parentbased_always_on (the default, when empty),
// parentbased_always_off, parentbased_traceidratio. The ratio samplers take a
// ratio in [0, 1] (default 1); other samplers ignore the argument. Fails with
// INVALID_ARGUMENT naming the variable that is malformed.
absl::StatusOr<Sampler> ParseSampler(std::string_view sampler, std::string_view arg);

// Parses OTEL_RESOURCE_ATTRIBUTES (ParseKeyValueList), later keys winning.
absl::StatusOr<std::map<std::string, std::string>> ParseResourceAttributes(
    std::string_view value);

// The telemetry.sdk.name of the gateway's spans: they are recorded and
// exported by the gateway's own code, not by an OpenTelemetry SDK, and the
// specification asks such an implementation to name itself.
inline constexpr char kTelemetrySdkName[] = "polymesh";

// The process's resource: telemetry.sdk.language (cpp), telemetry.sdk.name
// (kTelemetrySdkName) and telemetry.sdk.version (the gateway's), then
// OTEL_RESOURCE_ATTRIBUTES (`resource_attributes`), then service.name from
// OTEL_SERVICE_NAME (`service_name`), else from the attributes, else
// `default_service_name`.
absl::StatusOr<Resource> MakeResource(
    std::string_view resource_attributes, std::string_view service_name,
    std::string_view default_service_name);

// The gateway's defaults for the batch span processor, in place of the
// specification's 5000 ms, 2048 and 512: a gateway ends tens of thousands of
// spans a second, so the queue holds about half a second of them at 8 k
// calls/s (a SpanRecord is under 1 KiB: 8 MiB when full), and a span waits
// at most a second at low load.
inline constexpr uint64_t kGatewayBspScheduleDelayMillis = 1000;
inline constexpr uint64_t kGatewayBspMaxQueueSize = 8192;
inline constexpr uint64_t kGatewayBspMaxExportBatchSize = 512;
// Batches exported at once (each on its own thread, started with the first
// span): a collector's round trip per batch then limits the spans exported
// per second half as much.
inline constexpr int kGatewayMaxConcurrentExports = 2;

// Options of the batch span processor from OTEL_BSP_SCHEDULE_DELAY
// (milliseconds), OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BSP_MAX_EXPORT_BATCH_SIZE;
// empty values keep the gateway's defaults above. Fails with
// INVALID_ARGUMENT naming the variable on a value that is not a positive
// integer, or on a batch size above the queue size.
absl::StatusOr<BatchOptions> ParseBatchSpanProcessorOptions(
    std::string_view schedule_delay, std::string_view max_queue_size,
    std::string_view max_export_batch_size);

// Everything the tracer takes from the environment.
struct TracingEnvironment {
  // OTEL_SDK_DISABLED=true: make no spans at all; the other fields are then
  // left at their defaults.
  bool sdk_disabled = false;
  SemconvMode semconv = SemconvMode::kOld;
  Sampler sampler = Sampler::ParentBased(Sampler::AlwaysOn());
  Resource resource;
  BatchOptions batch;
  // From OTEL_EXPORTER_OTLP_*.
  OtlpOptions exporter;
};

// Reads every variable above from the process environment. Fails with
// INVALID_ARGUMENT naming the first malformed variable.
absl::StatusOr<TracingEnvironment> ReadTracingEnvironment(std::string_view default_service_name);

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_CONFIG_H_
