#include "observability/tracing.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/random/random.h"
#include "absl/strings/string_view.h"
#include "common/grpc_status.h"
#include "common/method_path.h"
#include "observability/batch_processor.h"
#include "observability/otlp_exporter.h"
#include "observability/recording_tracer.h"
#include "observability/resource.h"
#include "observability/sampler.h"
#include "observability/span_pipeline.h"
#include "observability/span_record.h"
#include "observability/tracing_config.h"
#include "opentelemetry/common/string_util.h"
#include "opentelemetry/nostd/shared_ptr.h"
#include "opentelemetry/nostd/span.h"
#include "opentelemetry/nostd/string_view.h"
#include "opentelemetry/trace/propagation/detail/hex.h"
#include "opentelemetry/trace/propagation/detail/string.h"
#include "opentelemetry/trace/propagation/http_trace_context.h"
#include "opentelemetry/trace/span_context.h"
#include "opentelemetry/trace/span_id.h"
#include "opentelemetry/trace/span_metadata.h"
#include "opentelemetry/trace/trace_flags.h"
#include "opentelemetry/trace/trace_id.h"
#include "opentelemetry/trace/trace_state.h"

namespace polymesh::observability {
namespace {

namespace nostd = opentelemetry::nostd;
namespace trace_api = opentelemetry::trace;
using ::polymesh::gateway::GrpcStatus;

// The instrumentation scope of every span the gateway makes.
constexpr char kScopeName[] = "polymesh.gateway";

constexpr int kCancelled = static_cast<int>(GrpcStatus::kCancelled);

// A code outside 0..16 is UNKNOWN, as gRPC itself treats it.
int NormalizeStatus(int grpc_status) {
  return grpc_status >= 0 && grpc_status <= static_cast<int>(GrpcStatus::kUnauthenticated)
             ? grpc_status
             : static_cast<int>(GrpcStatus::kUnknown);
}

// The codes for which a SERVER span is an error: the server's own failures,
// not the caller's (OpenTelemetry's RPC semantic conventions for gRPC).
bool IsServerError(int grpc_status) {
  switch (static_cast<GrpcStatus>(grpc_status)) {
    case GrpcStatus::kUnknown:
    case GrpcStatus::kDeadlineExceeded:
    case GrpcStatus::kUnimplemented:
    case GrpcStatus::kInternal:
    case GrpcStatus::kUnavailable:
    case GrpcStatus::kDataLoss:
      return true;
    default:
      return false;
  }
}

nostd::string_view ToNostd(std::string_view value) { return {value.data(), value.size()}; }

// The canonical name of a normalized status code ("NOT_FOUND").
std::string_view StatusName(int grpc_status) {
  const absl::string_view name = gateway::GrpcStatusName(grpc_status);
  return {name.data(), name.size()};
}

const std::string& EmptyString() {
  static const std::string* const empty = new std::string();
  return *empty;
}

// The names of an RPC method, views into its path.
struct MethodNames {
  std::string_view full;     // package.Service/Method: span name, new rpc.method
  std::string_view service;  // package.Service: rpc.service
  std::string_view method;   // Method: old rpc.method
};

MethodNames SplitPath(std::string_view path) {
  const auto view = [](absl::string_view part) {
    return std::string_view(part.data(), part.size());
  };
  if (const std::optional<gateway::MethodPath> parsed =
          gateway::MethodPath::Parse(absl::string_view(path.data(), path.size()))) {
    return MethodNames{view(parsed->name()), view(parsed->service()), view(parsed->method())};
  }
  // Not a method path: the whole of it (without a leading "/") names the span.
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return MethodNames{path, path, {}};
}

// The attributes a span starts with, on the stack.
class AttributeList {
 public:
  void Add(std::string_view key, SpanRecord::Value value) { entries_[size_++] = {key, value}; }
  void AddTo(SpanRecord& record) const {
    for (size_t i = 0; i < size_; ++i) record.SetAttribute(entries_[i].first, entries_[i].second);
  }

 private:
  std::array<std::pair<std::string_view, SpanRecord::Value>, 8> entries_;
  size_t size_ = 0;
};

// The attributes that SERVER and CLIENT spans share.
void AddRpcAttributes(SemconvMode semconv, const MethodNames& names, AttributeList& attributes) {
  const std::string_view grpc = "grpc";
  if (semconv != SemconvMode::kNew) {
    attributes.Add("rpc.system", grpc);
    attributes.Add("rpc.service", names.service);
  }
  if (semconv == SemconvMode::kOld) {
    attributes.Add("rpc.method", names.method);
  } else {
    attributes.Add("rpc.system.name", grpc);
    attributes.Add("rpc.method", names.full);
  }
}

void SetStatusAttributes(SemconvMode semconv, int grpc_status, SpanRecord& record) {
  if (semconv != SemconvMode::kNew) {
    record.SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(grpc_status));
  }
  if (semconv != SemconvMode::kOld) {
    record.SetAttribute("rpc.response.status_code", StatusName(grpc_status));
  }
}

// Random trace and span ids, from a generator per thread (seeded from the
// operating system's entropy): no lock, no system call per id.
absl::InsecureBitGen& IdBits() {
  thread_local absl::InsecureBitGen bits;
  return bits;
}

uint64_t NonZeroRandom() {
  uint64_t value = 0;
  while (value == 0) value = absl::Uniform<uint64_t>(IdBits());
  return value;
}

// Writes `value` into out[0..8), most significant byte first.
void StoreBigEndian(uint64_t value, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (56 - 8 * i));
}

// The last 8 bytes are never all zero, so the id is valid whatever the
// first 8 (and the ratio sampler, which reads the last 8, sees them random).
trace_api::TraceId NewTraceId() {
  std::array<uint8_t, trace_api::TraceId::kSize> bytes;
  StoreBigEndian(absl::Uniform<uint64_t>(IdBits()), bytes.data());
  StoreBigEndian(NonZeroRandom(), bytes.data() + 8);
  return trace_api::TraceId(
      nostd::span<const uint8_t, trace_api::TraceId::kSize>(bytes.data(), bytes.size()));
}

trace_api::SpanId NewSpanId() {
  std::array<uint8_t, trace_api::SpanId::kSize> bytes;
  StoreBigEndian(NonZeroRandom(), bytes.data());
  return trace_api::SpanId(
      nostd::span<const uint8_t, trace_api::SpanId::kSize>(bytes.data(), bytes.size()));
}

// The `traceparent` of a span context (version 00).
std::string FormatTraceparent(const trace_api::SpanContext& context) {
  if (!context.IsValid()) return {};
  std::string traceparent(trace_api::propagation::kTraceParentSize, '-');
  traceparent[0] = '0';
  traceparent[1] = '0';
  context.trace_id().ToLowerBase16(nostd::span<char, 32>(&traceparent[3], 32));
  context.span_id().ToLowerBase16(nostd::span<char, 16>(&traceparent[36], 16));
  context.trace_flags().ToLowerBase16(nostd::span<char, 2>(&traceparent[53], 2));
  return traceparent;
}

// The remote parent of a SERVER span; invalid (a new trace) when
// `traceparent` is absent or malformed. The rules are the W3C propagator's
// (opentelemetry-cpp's HttpTraceContext), without the heap context objects
// that its Extract() builds; a trace state is parsed only when present.
trace_api::SpanContext ExtractParent(std::string_view traceparent_in,
                                     std::string_view tracestate) {
  namespace detail = trace_api::propagation::detail;
  using trace_api::propagation::HttpTraceContext;
  const nostd::string_view traceparent =
      opentelemetry::common::StringUtil::Trim(ToNostd(traceparent_in));
  if (traceparent.empty()) return trace_api::SpanContext::GetInvalid();
  std::array<nostd::string_view, 4> fields{};
  if (detail::SplitString(traceparent, '-', fields.data(), 4) != 4) {
    return trace_api::SpanContext::GetInvalid();
  }
  if (fields[0].size() != 2 || fields[1].size() != 32 || fields[2].size() != 16 ||
      fields[3].size() != 2) {
    return trace_api::SpanContext::GetInvalid();
  }
  // Lower-case hex only: W3C Trace Context says to ignore a traceparent
  // with upper-case hex digits (opentelemetry-cpp's IsValidHex takes both).
  for (const nostd::string_view field : fields) {
    for (const char c : field) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return trace_api::SpanContext::GetInvalid();
      }
    }
  }
  uint8_t version = 0;
  detail::HexToBinary(fields[0], &version, 1);
  if (version == 0xff) return trace_api::SpanContext::GetInvalid();
  // Version 00 is exactly 55 characters; later versions may append fields.
  if (version == 0 ? traceparent.size() != trace_api::propagation::kTraceParentSize
                   : traceparent.size() < trace_api::propagation::kTraceParentSize) {
    return trace_api::SpanContext::GetInvalid();
  }
  const trace_api::TraceId trace_id = HttpTraceContext::TraceIdFromHex(fields[1]);
  const trace_api::SpanId span_id = HttpTraceContext::SpanIdFromHex(fields[2]);
  if (!trace_id.IsValid() || !span_id.IsValid()) return trace_api::SpanContext::GetInvalid();
  return trace_api::SpanContext(trace_id, span_id, HttpTraceContext::TraceFlagsFromHex(fields[3]),
                                /*is_remote=*/true,
                                tracestate.empty()
                                    ? trace_api::TraceState::GetDefault()
                                    : trace_api::TraceState::FromHeader(ToNostd(tracestate)));
}

}  // namespace

// What every span of a Tracer shares; spans hold it, so that they may
// outlive the Tracer. The processor is declared last: it is destroyed (and
// exports what it holds) while the resource and scope its spans point to
// still exist.
struct TracerCore {
  TracerCore(std::unique_ptr<SpanProcessor> span_processor, Sampler span_sampler,
             Resource span_resource, SemconvMode mode,
             std::shared_ptr<TracingCounters> tracing_counters)
      : semconv(mode),
        sampler(span_sampler),
        resource(std::move(span_resource)),
        scope{kScopeName, POLYMESH_VERSION},
        counters(std::move(tracing_counters)),
        processor(std::move(span_processor)) {}

  // A new span's context under `parent` (invalid: a new trace) and the
  // sampler's verdict. Returns the record to fill, or null when the span is
  // not recorded (not sampled, or the tracer is shut down).
  std::unique_ptr<SpanRecord> Start(const trace_api::SpanContext& parent, std::string_view name,
                                    trace_api::SpanKind kind, const AttributeList& attributes,
                                    trace_api::SpanContext& context) const {
    const trace_api::TraceId trace_id = parent.IsValid() ? parent.trace_id() : NewTraceId();
    const trace_api::SpanId span_id = NewSpanId();
    const bool sampled = sampler.ShouldSample(parent, trace_id);
    uint8_t flags = parent.IsValid() ? parent.trace_flags().flags() : 0;
    flags = sampled ? (flags | trace_api::TraceFlags::kIsSampled)
                    : (flags & ~trace_api::TraceFlags::kIsSampled);
    flags &= trace_api::TraceFlags::kAllW3CTraceContext1Flags;
    context = trace_api::SpanContext(
        trace_id, span_id, trace_api::TraceFlags(flags), /*is_remote=*/false,
        parent.IsValid() ? parent.trace_state() : trace_api::TraceState::GetDefault());
    if (!sampled || shut_down.load(std::memory_order_relaxed)) return nullptr;
    auto record = std::make_unique<SpanRecord>();
    record->SetIdentity(context, parent.IsValid() ? parent.span_id() : trace_api::SpanId());
    record->SetTraceFlags(context.trace_flags());
    record->SetName(name);
    record->SetSpanKind(kind);
    record->SetStartTime(std::chrono::system_clock::now());
    record->SetResource(resource);
    record->SetInstrumentationScope(scope);
    attributes.AddTo(*record);
    return record;
  }

  // Ends a recorded span started at `start`.
  void End(std::unique_ptr<SpanRecord> record, std::chrono::steady_clock::time_point start) const {
    record->SetDuration(std::chrono::steady_clock::now() - start);
    if (shut_down.load(std::memory_order_relaxed)) return;
    processor->OnEnd(std::move(record));
  }

  const SemconvMode semconv;
  const Sampler sampler;
  const Resource resource;
  const InstrumentationScope scope;
  const std::shared_ptr<TracingCounters> counters;
  std::atomic<bool> shut_down{false};
  const std::unique_ptr<SpanProcessor> processor;
};

// ---------------------------------------------------------------------------
// ClientSpan

struct ClientSpan::Impl {
  // Null when tracing is off.
  std::shared_ptr<const TracerCore> core;
  // Null when the span is not recorded.
  std::unique_ptr<SpanRecord> record;
  std::chrono::steady_clock::time_point start;
  std::string traceparent;
  std::string tracestate;
  bool ended = false;

  void End(int grpc_status, std::string_view message) {
    if (ended) return;
    ended = true;
    if (record == nullptr) return;
    grpc_status = NormalizeStatus(grpc_status);
    SetStatusAttributes(core->semconv, grpc_status, *record);
    if (grpc_status != 0) record->SetStatus(trace_api::StatusCode::kError, message);
    core->End(std::move(record), start);
  }
};

ClientSpan::ClientSpan() = default;
ClientSpan::ClientSpan(ClientSpan&&) noexcept = default;

ClientSpan& ClientSpan::operator=(ClientSpan&& other) noexcept {
  if (this != &other) {
    if (impl_ != nullptr) impl_->End(kCancelled, {});
    impl_ = std::move(other.impl_);
  }
  return *this;
}

ClientSpan::~ClientSpan() {
  if (impl_ != nullptr) impl_->End(kCancelled, {});
}

const std::string& ClientSpan::traceparent() const {
  return impl_ == nullptr ? EmptyString() : impl_->traceparent;
}

const std::string& ClientSpan::tracestate() const {
  return impl_ == nullptr ? EmptyString() : impl_->tracestate;
}

void ClientSpan::SetAttempt(uint32_t attempt, bool transparent) {
  if (impl_ == nullptr || impl_->record == nullptr || impl_->ended) return;
  impl_->record->SetAttribute("polymesh.attempt", static_cast<int64_t>(attempt));
  if (transparent) impl_->record->SetAttribute("polymesh.transparent_retry", true);
}

void ClientSpan::SetMirror(std::string_view cluster) {
  if (impl_ == nullptr || impl_->record == nullptr || impl_->ended) return;
  impl_->record->SetAttribute("polymesh.mirror", true);
  impl_->record->SetAttribute("polymesh.cluster", cluster);
}

void ClientSpan::End(int grpc_status, std::string_view message) {
  if (impl_ != nullptr) impl_->End(grpc_status, message);
}

// ---------------------------------------------------------------------------
// ServerSpan

struct ServerSpan::Impl {
  // Tracing on: what the spans share, this span's context and record (null
  // when not recorded), and its call's path (inline: most paths are short).
  std::shared_ptr<const TracerCore> core;
  trace_api::SpanContext context = trace_api::SpanContext::GetInvalid();
  std::unique_ptr<SpanRecord> record;
  std::chrono::steady_clock::time_point start;
  absl::InlinedVector<char, 96> path;
  // Tracing off: the downstream trace context, passed upstream unchanged.
  std::string traceparent;
  std::string tracestate;
  bool ended = false;

  std::string_view path_view() const { return {path.data(), path.size()}; }

  void End(int grpc_status, std::string_view message) {
    if (ended) return;
    ended = true;
    if (record == nullptr) return;
    grpc_status = NormalizeStatus(grpc_status);
    SetStatusAttributes(core->semconv, grpc_status, *record);
    if (IsServerError(grpc_status)) {
      record->SetStatus(trace_api::StatusCode::kError, message);
    }
    core->End(std::move(record), start);
  }
};

ServerSpan::ServerSpan() = default;
ServerSpan::ServerSpan(ServerSpan&&) noexcept = default;

ServerSpan& ServerSpan::operator=(ServerSpan&& other) noexcept {
  if (this != &other) {
    if (impl_ != nullptr) impl_->End(kCancelled, {});
    impl_ = std::move(other.impl_);
  }
  return *this;
}

ServerSpan::~ServerSpan() {
  if (impl_ != nullptr) impl_->End(kCancelled, {});
}

void ServerSpan::SetRoute(std::string_view route, std::string_view cluster) {
  if (impl_ == nullptr || impl_->record == nullptr || impl_->ended) return;
  impl_->record->SetAttribute("polymesh.route", route);
  impl_->record->SetAttribute("polymesh.cluster", cluster);
}

void ServerSpan::SetAttempts(uint32_t attempts) {
  if (impl_ == nullptr || impl_->record == nullptr || impl_->ended) return;
  impl_->record->SetAttribute("polymesh.attempts", static_cast<int64_t>(attempts));
}

ClientSpan ServerSpan::StartClient(std::string_view address, uint16_t port) {
  ClientSpan client;
  if (impl_ == nullptr) return client;
  client.impl_ = std::make_unique<ClientSpan::Impl>();
  ClientSpan::Impl& out = *client.impl_;
  if (impl_->core == nullptr) {  // tracing off
    out.traceparent = impl_->traceparent;
    out.tracestate = impl_->tracestate;
    return client;
  }
  const MethodNames names = SplitPath(impl_->path_view());
  AttributeList attributes;
  AddRpcAttributes(impl_->core->semconv, names, attributes);
  attributes.Add("server.address", address);
  attributes.Add("server.port", static_cast<int64_t>(port));
  trace_api::SpanContext context = trace_api::SpanContext::GetInvalid();
  out.start = std::chrono::steady_clock::now();
  out.record = impl_->core->Start(impl_->context, names.full, trace_api::SpanKind::kClient,
                                  attributes, context);
  out.core = impl_->core;
  out.traceparent = FormatTraceparent(context);
  if (!context.trace_state()->Empty()) out.tracestate = context.trace_state()->ToHeader();
  return client;
}

void ServerSpan::End(int grpc_status, std::string_view message) {
  if (impl_ != nullptr) impl_->End(grpc_status, message);
}

// ---------------------------------------------------------------------------
// Tracer

namespace {

// Tracing on: spans recorded and handed to a span processor.
class RecordingTracer final : public Tracer {
 public:
  explicit RecordingTracer(std::shared_ptr<TracerCore> core) : core_(std::move(core)) {}
  ~RecordingTracer() override { RecordingTracer::Shutdown(); }

  ServerSpan StartServer(std::string_view path, std::string_view traceparent,
                         std::string_view tracestate) override {
    const MethodNames names = SplitPath(path);
    AttributeList attributes;
    AddRpcAttributes(core_->semconv, names, attributes);
    auto impl = std::make_unique<ServerSpanImpl>();
    impl->start = std::chrono::steady_clock::now();
    impl->record = core_->Start(ExtractParent(traceparent, tracestate), names.full,
                                trace_api::SpanKind::kServer, attributes, impl->context);
    impl->core = core_;
    impl->path.assign(path.begin(), path.end());
    return MakeServerSpan(std::move(impl));
  }

  void Shutdown() override {
    if (!core_->shut_down.exchange(true)) {
      core_->processor->Shutdown(std::chrono::microseconds::max());
    }
  }

  std::shared_ptr<const TracingCounters> counters() const override { return core_->counters; }

 private:
  const std::shared_ptr<TracerCore> core_;
};

// Tracing off: no spans; the trace context passes through unchanged.
class DisabledTracer final : public Tracer {
 public:
  ServerSpan StartServer(std::string_view /*path*/, std::string_view traceparent,
                         std::string_view tracestate) override {
    if (traceparent.empty() && tracestate.empty()) return ServerSpan();
    auto impl = std::make_unique<ServerSpanImpl>();
    impl->traceparent = traceparent;
    impl->tracestate = tracestate;
    return MakeServerSpan(std::move(impl));
  }

  void Shutdown() override {}
};

}  // namespace

Tracer::~Tracer() = default;

std::shared_ptr<const TracingCounters> Tracer::counters() const { return nullptr; }

ServerSpan Tracer::MakeServerSpan(std::unique_ptr<ServerSpanImpl> impl) {
  ServerSpan span;
  span.impl_ = std::move(impl);
  return span;
}

absl::StatusOr<std::unique_ptr<Tracer>> Tracer::FromEnvironment(const TracerOptions& options) {
  if (options.disabled) return std::make_unique<DisabledTracer>();
  absl::StatusOr<TracingEnvironment> env = ReadTracingEnvironment(options.default_service_name);
  if (!env.ok()) return env.status();
  if (env->sdk_disabled) return std::make_unique<DisabledTracer>();
  auto counters = std::make_shared<TracingCounters>();
  auto processor = std::make_unique<BatchExportProcessor>(
      std::make_unique<OtlpSpanExporter>(env->exporter), env->batch, counters,
      kGatewayMaxConcurrentExports);
  return NewRecordingTracer(std::move(processor), env->sampler, std::move(env->resource),
                            env->semconv, std::move(counters));
}

std::unique_ptr<Tracer> NewRecordingTracer(std::unique_ptr<SpanProcessor> processor,
                                           Sampler sampler, Resource resource,
                                           SemconvMode semconv,
                                           std::shared_ptr<TracingCounters> counters) {
  return std::make_unique<RecordingTracer>(std::make_shared<TracerCore>(
      std::move(processor), sampler, std::move(resource), semconv, std::move(counters)));
}

}  // namespace polymesh::observability
