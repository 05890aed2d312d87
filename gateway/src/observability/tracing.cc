#include "observability/tracing.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <utility>

#include "common/grpc_status.h"
#include "observability/tracing_config.h"
#include "observability/tracing_for_test.h"
#include "opentelemetry/common/attribute_value.h"
#include "opentelemetry/common/key_value_iterable.h"
#include "opentelemetry/context/context.h"
#include "opentelemetry/context/propagation/text_map_propagator.h"
#include "opentelemetry/exporters/otlp/otlp_grpc_exporter_factory.h"
#include "opentelemetry/nostd/shared_ptr.h"
#include "opentelemetry/nostd/span.h"
#include "opentelemetry/nostd/string_view.h"
#include "opentelemetry/sdk/common/global_log_handler.h"
#include "opentelemetry/sdk/trace/batch_span_processor_factory.h"
#include "opentelemetry/sdk/trace/tracer_provider.h"
#include "opentelemetry/sdk/trace/tracer_provider_factory.h"
#include "opentelemetry/trace/context.h"
#include "opentelemetry/trace/propagation/http_trace_context.h"
#include "opentelemetry/trace/span.h"
#include "opentelemetry/trace/span_context.h"
#include "opentelemetry/trace/span_context_kv_iterable.h"
#include "opentelemetry/trace/span_metadata.h"
#include "opentelemetry/trace/span_startoptions.h"
#include "opentelemetry/trace/tracer.h"

namespace polymesh::observability {
namespace {

namespace nostd = opentelemetry::nostd;
namespace otel_common = opentelemetry::common;
namespace sdk_trace = opentelemetry::sdk::trace;
namespace trace_api = opentelemetry::trace;

// The instrumentation scope of every span the gateway makes.
constexpr char kScopeName[] = "polymesh.gateway";

constexpr int kCancelled = 1;
constexpr int kUnknown = 2;

constexpr int kStatusCodeCount = 17;  // OK .. UNAUTHENTICATED

// A code outside 0..16 is UNKNOWN, as gRPC itself treats it.
int NormalizeStatus(int grpc_status) {
  return grpc_status >= 0 && grpc_status < kStatusCodeCount
             ? grpc_status
             : kUnknown;
}

// The codes for which a SERVER span is an error: the server's own failures,
// not the caller's (OpenTelemetry's RPC semantic conventions for gRPC).
bool IsServerError(int grpc_status) {
  switch (grpc_status) {
    case 2:   // UNKNOWN
    case 4:   // DEADLINE_EXCEEDED
    case 12:  // UNIMPLEMENTED
    case 13:  // INTERNAL
    case 14:  // UNAVAILABLE
    case 15:  // DATA_LOSS
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
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  MethodNames names{path, path, {}};
  const size_t slash = path.rfind('/');
  if (slash != std::string_view::npos) {
    names.service = path.substr(0, slash);
    names.method = path.substr(slash + 1);
  }
  return names;
}

// A few attributes on the stack, handed to StartSpan without allocation.
class AttributeList final : public otel_common::KeyValueIterable {
 public:
  void Add(nostd::string_view key, otel_common::AttributeValue value) {
    entries_[size_++] = {key, value};
  }
  bool ForEachKeyValue(nostd::function_ref<bool(nostd::string_view, otel_common::AttributeValue)>
                           callback) const noexcept override {
    for (size_t i = 0; i < size_; ++i) {
      if (!callback(entries_[i].first, entries_[i].second)) return false;
    }
    return true;
  }
  size_t size() const noexcept override { return size_; }

 private:
  std::array<std::pair<nostd::string_view, otel_common::AttributeValue>, 8> entries_;
  size_t size_ = 0;
};

// The attributes that SERVER and CLIENT spans share.
void AddRpcAttributes(SemconvMode semconv, const MethodNames& names, AttributeList& attributes) {
  const nostd::string_view grpc = "grpc";
  if (semconv != SemconvMode::kNew) {
    attributes.Add("rpc.system", grpc);
    attributes.Add("rpc.service", ToNostd(names.service));
  }
  if (semconv == SemconvMode::kOld) {
    attributes.Add("rpc.method", ToNostd(names.method));
  } else {
    attributes.Add("rpc.system.name", grpc);
    attributes.Add("rpc.method", ToNostd(names.full));
  }
}

void SetStatusAttributes(SemconvMode semconv, int grpc_status, trace_api::Span& span) {
  if (semconv != SemconvMode::kNew) {
    span.SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(grpc_status));
  }
  if (semconv != SemconvMode::kOld) {
    span.SetAttribute("rpc.response.status_code", ToNostd(StatusName(grpc_status)));
  }
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

// The two trace context headers of a call, as the propagator reads them.
class HeaderCarrier final : public opentelemetry::context::propagation::TextMapCarrier {
 public:
  HeaderCarrier(std::string_view traceparent, std::string_view tracestate)
      : traceparent_(ToNostd(traceparent)), tracestate_(ToNostd(tracestate)) {}

  nostd::string_view Get(nostd::string_view key) const noexcept override {
    if (key == trace_api::propagation::kTraceParent) return traceparent_;
    if (key == trace_api::propagation::kTraceState) return tracestate_;
    return {};
  }
  void Set(nostd::string_view /*key*/, nostd::string_view /*value*/) noexcept override {}

 private:
  nostd::string_view traceparent_;
  nostd::string_view tracestate_;
};

// The remote parent of a SERVER span; invalid (a new trace) when
// `traceparent` is absent or malformed.
trace_api::SpanContext ExtractParent(std::string_view traceparent, std::string_view tracestate) {
  if (traceparent.empty()) return trace_api::SpanContext::GetInvalid();
  const HeaderCarrier carrier(traceparent, tracestate);
  opentelemetry::context::Context empty;
  const opentelemetry::context::Context extracted =
      trace_api::propagation::HttpTraceContext().Extract(carrier, empty);
  return trace_api::GetSpan(extracted)->GetContext();
}

}  // namespace

// ---------------------------------------------------------------------------
// ClientSpan

struct ClientSpan::Impl {
  // Null when tracing is off.
  nostd::shared_ptr<trace_api::Span> span;
  SemconvMode semconv = SemconvMode::kOld;
  std::string traceparent;
  std::string tracestate;
  bool ended = false;

  void End(int grpc_status, std::string_view message) {
    if (ended) return;
    ended = true;
    if (span == nullptr) return;
    grpc_status = NormalizeStatus(grpc_status);
    SetStatusAttributes(semconv, grpc_status, *span);
    if (grpc_status != 0) span->SetStatus(trace_api::StatusCode::kError, ToNostd(message));
    span->End();
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

void ClientSpan::End(int grpc_status, std::string_view message) {
  if (impl_ != nullptr) impl_->End(grpc_status, message);
}

// ---------------------------------------------------------------------------
// ServerSpan

struct ServerSpan::Impl {
  // Tracing on: the tracer of the CLIENT spans, this span and its call's path.
  nostd::shared_ptr<trace_api::Tracer> tracer;
  nostd::shared_ptr<trace_api::Span> span;
  SemconvMode semconv = SemconvMode::kOld;
  std::string path;
  // Tracing off: the downstream trace context, passed upstream unchanged.
  std::string traceparent;
  std::string tracestate;
  bool ended = false;

  void End(int grpc_status, std::string_view message) {
    if (ended) return;
    ended = true;
    if (span == nullptr) return;
    grpc_status = NormalizeStatus(grpc_status);
    SetStatusAttributes(semconv, grpc_status, *span);
    if (IsServerError(grpc_status)) {
      span->SetStatus(trace_api::StatusCode::kError, ToNostd(message));
    }
    span->End();
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
  if (impl_ == nullptr || impl_->span == nullptr) return;
  impl_->span->SetAttribute("polymesh.route", ToNostd(route));
  impl_->span->SetAttribute("polymesh.cluster", ToNostd(cluster));
}

ClientSpan ServerSpan::StartClient(std::string_view address, uint16_t port) {
  ClientSpan client;
  if (impl_ == nullptr) return client;
  client.impl_ = std::make_unique<ClientSpan::Impl>();
  ClientSpan::Impl& out = *client.impl_;
  if (impl_->span == nullptr) {  // tracing off
    out.traceparent = impl_->traceparent;
    out.tracestate = impl_->tracestate;
    return client;
  }
  const MethodNames names = SplitPath(impl_->path);
  AttributeList attributes;
  AddRpcAttributes(impl_->semconv, names, attributes);
  attributes.Add("server.address", ToNostd(address));
  attributes.Add("server.port", static_cast<int64_t>(port));
  trace_api::StartSpanOptions options;
  options.kind = trace_api::SpanKind::kClient;
  options.parent = impl_->span->GetContext();
  out.span = impl_->tracer->StartSpan(ToNostd(names.full), attributes,
                                      trace_api::NullSpanContext(), options);
  out.semconv = impl_->semconv;
  const trace_api::SpanContext context = out.span->GetContext();
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

// Tracing on: spans from the SDK.
class SdkTracer final : public Tracer {
 public:
  SdkTracer(std::unique_ptr<sdk_trace::TracerProvider> provider, SemconvMode semconv)
      : provider_(std::move(provider)),
        tracer_(provider_->GetTracer(kScopeName)),
        semconv_(semconv) {}
  ~SdkTracer() override { SdkTracer::Shutdown(); }

  ServerSpan StartServer(std::string_view path, std::string_view traceparent,
                         std::string_view tracestate) override {
    const MethodNames names = SplitPath(path);
    AttributeList attributes;
    AddRpcAttributes(semconv_, names, attributes);
    trace_api::StartSpanOptions options;
    options.kind = trace_api::SpanKind::kServer;
    options.parent = ExtractParent(traceparent, tracestate);
    auto impl = std::make_unique<ServerSpanImpl>();
    impl->span = tracer_->StartSpan(ToNostd(names.full), attributes, trace_api::NullSpanContext(),
                                    options);
    impl->tracer = tracer_;
    impl->semconv = semconv_;
    impl->path = path;
    return MakeServerSpan(std::move(impl));
  }

  void Shutdown() override {
    if (!shut_down_.exchange(true)) provider_->Shutdown();
  }

 private:
  const std::unique_ptr<sdk_trace::TracerProvider> provider_;
  const nostd::shared_ptr<trace_api::Tracer> tracer_;
  const SemconvMode semconv_;
  std::atomic<bool> shut_down_{false};
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
  // The SDK warns once per span it drops when its queue is full, on the
  // thread that ends the span: under overload, a worker would write a line to
  // stderr per call. Errors (one per failed export) still show.
  opentelemetry::sdk::common::internal_log::GlobalLogHandler::SetLogLevel(
      opentelemetry::sdk::common::internal_log::LogLevel::Error);
  std::unique_ptr<sdk_trace::SpanProcessor> processor =
      sdk_trace::BatchSpanProcessorFactory::Create(
          opentelemetry::exporter::otlp::OtlpGrpcExporterFactory::Create(env->exporter),
          env->batch);
  return std::make_unique<SdkTracer>(
      sdk_trace::TracerProviderFactory::Create(std::move(processor), *env->resource,
                                               std::move(env->sampler)),
      env->semconv);
}

std::unique_ptr<Tracer> TracerForTest(std::unique_ptr<sdk_trace::SpanProcessor> processor,
                                      SemconvMode semconv,
                                      std::unique_ptr<sdk_trace::Sampler> sampler,
                                      std::string_view service_name) {
  if (sampler == nullptr) sampler = *ParseSampler("", "");
  return std::make_unique<SdkTracer>(
      sdk_trace::TracerProviderFactory::Create(std::move(processor),
                                               *MakeResource("", "", service_name),
                                               std::move(sampler)),
      semconv);
}

}  // namespace polymesh::observability
