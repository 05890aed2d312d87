#include "observability/tracing_config.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/string_views.h"

namespace polymesh::observability {
namespace {

constexpr char kSdkDisabled[] = "OTEL_SDK_DISABLED";
constexpr char kServiceName[] = "OTEL_SERVICE_NAME";
constexpr char kResourceAttributes[] = "OTEL_RESOURCE_ATTRIBUTES";
constexpr char kTracesSampler[] = "OTEL_TRACES_SAMPLER";
constexpr char kTracesSamplerArg[] = "OTEL_TRACES_SAMPLER_ARG";
constexpr char kBspScheduleDelay[] = "OTEL_BSP_SCHEDULE_DELAY";
constexpr char kBspMaxQueueSize[] = "OTEL_BSP_MAX_QUEUE_SIZE";
constexpr char kBspMaxExportBatchSize[] = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
constexpr char kSemconvStabilityOptIn[] = "OTEL_SEMCONV_STABILITY_OPT_IN";

// A ratio in [0, 1] from OTEL_TRACES_SAMPLER_ARG; 1 when empty.
absl::StatusOr<double> ParseRatio(std::string_view arg) {
  arg = TrimBlanks(arg);
  if (arg.empty()) return 1.0;
  double ratio = 0;
  // The negated test also rejects NaN.
  if (!absl::SimpleAtod(ToAbsl(arg), &ratio) || !(ratio >= 0.0 && ratio <= 1.0)) {
    return MalformedVariable(kTracesSamplerArg, arg, "expected a sampling ratio in [0, 1]");
  }
  return ratio;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `value`; nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view value) {
  std::string decoded;
  decoded.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      decoded.push_back(value[i]);
      continue;
    }
    if (i + 2 >= value.size()) return std::nullopt;
    const int high = HexDigit(value[i + 1]);
    const int low = HexDigit(value[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    decoded.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return decoded;
}

// A positive integer from an OTEL_BSP_* variable; `fallback` when empty.
absl::StatusOr<uint64_t> ParsePositive(std::string_view variable, std::string_view value,
                                       uint64_t fallback) {
  value = TrimBlanks(value);
  if (value.empty()) return fallback;
  uint64_t parsed = 0;
  if (!absl::SimpleAtoi(ToAbsl(value), &parsed) || parsed == 0) {
    return MalformedVariable(variable, value, "expected a positive integer");
  }
  return parsed;
}

}  // namespace

SemconvMode ParseSemconvStabilityOptIn(std::string_view value) {
  SemconvMode mode = SemconvMode::kOld;
  for (absl::string_view piece : absl::StrSplit(ToAbsl(value), ',')) {
    const std::string_view entry = TrimBlanks(ToStd(piece));
    if (entry == "rpc/dup") return SemconvMode::kDup;
    if (entry == "rpc") mode = SemconvMode::kNew;
  }
  return mode;
}

absl::StatusOr<bool> ParseBooleanVariable(std::string_view variable, std::string_view value) {
  value = TrimBlanks(value);
  if (value.empty() || absl::EqualsIgnoreCase(ToAbsl(value), "false")) return false;
  if (absl::EqualsIgnoreCase(ToAbsl(value), "true")) return true;
  return MalformedVariable(variable, value, "expected true or false");
}

absl::StatusOr<bool> ParseSdkDisabled(std::string_view value) {
  return ParseBooleanVariable(kSdkDisabled, value);
}

absl::StatusOr<Sampler> ParseSampler(std::string_view sampler, std::string_view arg) {
  const std::string name = absl::AsciiStrToLower(ToAbsl(TrimBlanks(sampler)));
  if (name.empty() || name == "parentbased_always_on") {
    return Sampler::ParentBased(Sampler::AlwaysOn());
  }
  if (name == "always_on") return Sampler::AlwaysOn();
  if (name == "always_off") return Sampler::AlwaysOff();
  if (name == "parentbased_always_off") return Sampler::ParentBased(Sampler::AlwaysOff());
  if (name == "traceidratio" || name == "parentbased_traceidratio") {
    absl::StatusOr<double> ratio = ParseRatio(arg);
    if (!ratio.ok()) return ratio.status();
    if (name == "traceidratio") return Sampler::TraceIdRatio(*ratio);
    return Sampler::ParentBased(Sampler::TraceIdRatio(*ratio));
  }
  return MalformedVariable(kTracesSampler, sampler,
                   "expected always_on, always_off, traceidratio, parentbased_always_on, "
                   "parentbased_always_off or parentbased_traceidratio");
}

absl::Status MalformedVariable(std::string_view variable, std::string_view value,
                               std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(variable), "=\"", absl::CEscape(ToAbsl(value)), "\": ", ToAbsl(why)));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseKeyValueList(
    std::string_view variable, std::string_view value) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (absl::string_view piece : absl::StrSplit(ToAbsl(value), ',')) {
    const std::string_view entry = TrimBlanks(ToStd(piece));
    if (entry.empty()) continue;
    const size_t equals = entry.find('=');
    if (equals == std::string_view::npos) {
      return MalformedVariable(variable, value,
                       absl::StrCat("entry \"", absl::CEscape(ToAbsl(entry)),
                                    "\" has no '='"));
    }
    const std::string_view key = TrimBlanks(entry.substr(0, equals));
    if (key.empty()) {
      return MalformedVariable(variable, value,
                       absl::StrCat("entry \"", absl::CEscape(ToAbsl(entry)),
                                    "\" has an empty key"));
    }
    std::optional<std::string> decoded = PercentDecode(TrimBlanks(entry.substr(equals + 1)));
    if (!decoded.has_value()) {
      return MalformedVariable(
          variable, value,
          absl::StrCat("entry \"", absl::CEscape(ToAbsl(entry)), "\" has a bad percent escape"));
    }
    entries.emplace_back(std::string(key), *std::move(decoded));
  }
  return entries;
}

absl::StatusOr<std::map<std::string, std::string>> ParseResourceAttributes(
    std::string_view value) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> entries =
      ParseKeyValueList(kResourceAttributes, value);
  if (!entries.ok()) return entries.status();
  std::map<std::string, std::string> attributes;
  for (auto& [key, decoded] : *entries) attributes[key] = std::move(decoded);
  return attributes;
}

absl::StatusOr<Resource> MakeResource(std::string_view resource_attributes,
                                      std::string_view service_name,
                                      std::string_view default_service_name) {
  absl::StatusOr<std::map<std::string, std::string>> attributes =
      ParseResourceAttributes(resource_attributes);
  if (!attributes.ok()) return attributes.status();
  Resource resource;
  resource.attributes = {
      {"telemetry.sdk.language", "cpp"},
      {"telemetry.sdk.name", kTelemetrySdkName},
      {"telemetry.sdk.version", POLYMESH_VERSION},
  };
  for (auto& [key, value] : *attributes) resource.attributes[key] = std::move(value);
  constexpr char kServiceNameKey[] = "service.name";
  service_name = TrimBlanks(service_name);
  if (!service_name.empty()) {
    resource.attributes[kServiceNameKey] = std::string(service_name);
  } else if (!resource.attributes.contains(kServiceNameKey)) {
    resource.attributes[kServiceNameKey] = std::string(default_service_name);
  }
  return resource;
}

absl::StatusOr<BatchOptions> ParseBatchSpanProcessorOptions(
    std::string_view schedule_delay, std::string_view max_queue_size,
    std::string_view max_export_batch_size) {
  BatchOptions options;
  options.schedule_delay = std::chrono::milliseconds(kGatewayBspScheduleDelayMillis);
  options.max_queue_size = kGatewayBspMaxQueueSize;
  options.max_export_batch_size = kGatewayBspMaxExportBatchSize;
  absl::StatusOr<uint64_t> delay =
      ParsePositive(kBspScheduleDelay, schedule_delay,
                    static_cast<uint64_t>(options.schedule_delay.count()));
  if (!delay.ok()) return delay.status();
  absl::StatusOr<uint64_t> queue = ParsePositive(kBspMaxQueueSize, max_queue_size,
                                                 options.max_queue_size);
  if (!queue.ok()) return queue.status();
  absl::StatusOr<uint64_t> batch = ParsePositive(kBspMaxExportBatchSize, max_export_batch_size,
                                                 options.max_export_batch_size);
  if (!batch.ok()) return batch.status();
  if (*batch > *queue) {
    return MalformedVariable(kBspMaxExportBatchSize, max_export_batch_size,
                     absl::StrCat("must not exceed the queue size (", *queue, ")"));
  }
  options.schedule_delay = std::chrono::milliseconds(*delay);
  options.max_queue_size = *queue;
  options.max_export_batch_size = *batch;
  return options;
}

absl::StatusOr<TracingEnvironment> ReadTracingEnvironment(std::string_view default_service_name) {
  const EnvironmentLookup get_env = ProcessEnvironment();
  TracingEnvironment env;
  absl::StatusOr<bool> disabled = ParseSdkDisabled(get_env(kSdkDisabled));
  if (!disabled.ok()) return disabled.status();
  env.sdk_disabled = *disabled;
  if (env.sdk_disabled) return env;

  env.semconv = ParseSemconvStabilityOptIn(get_env(kSemconvStabilityOptIn));

  absl::StatusOr<Sampler> sampler =
      ParseSampler(get_env(kTracesSampler), get_env(kTracesSamplerArg));
  if (!sampler.ok()) return sampler.status();
  env.sampler = *sampler;

  absl::StatusOr<Resource> resource =
      MakeResource(get_env(kResourceAttributes), get_env(kServiceName), default_service_name);
  if (!resource.ok()) return resource.status();
  env.resource = *std::move(resource);

  absl::StatusOr<BatchOptions> batch = ParseBatchSpanProcessorOptions(
      get_env(kBspScheduleDelay), get_env(kBspMaxQueueSize), get_env(kBspMaxExportBatchSize));
  if (!batch.ok()) return batch.status();
  env.batch = *batch;

  absl::StatusOr<OtlpOptions> exporter = ReadOtlpOptions(get_env);
  if (!exporter.ok()) return exporter.status();
  env.exporter = *std::move(exporter);
  return env;
}

}  // namespace polymesh::observability
