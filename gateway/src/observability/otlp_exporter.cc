#include "observability/otlp_exporter.h"

#include <utility>
#include <vector>

#include "google/protobuf/arena.h"
#include "grpcpp/grpcpp.h"
#include "observability/span_record.h"
#include "opentelemetry/exporters/otlp/otlp_grpc_client.h"
#include "opentelemetry/exporters/otlp/otlp_populate_attribute_utils.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "opentelemetry/sdk/common/global_log_handler.h"

namespace polymesh::observability {
namespace {

namespace collector = opentelemetry::proto::collector::trace::v1;
namespace proto_trace = opentelemetry::proto::trace::v1;
namespace sdk_trace = opentelemetry::sdk::trace;
using opentelemetry::exporter::otlp::OtlpGrpcClient;
using opentelemetry::exporter::otlp::OtlpPopulateAttributeUtils;
using opentelemetry::sdk::common::ExportResult;
using opentelemetry::sdk::instrumentationscope::InstrumentationScope;
using opentelemetry::sdk::resource::Resource;

// The first arena block holds a few hundred spans; later ones grow to 1 MiB.
constexpr size_t kArenaInitialBlock = 64 << 10;
constexpr size_t kArenaMaxBlock = 1 << 20;

// Where the spans of one (resource, scope) pair go in the request.
struct Group {
  const Resource* resource;
  const InstrumentationScope* scope;
  proto_trace::ResourceSpans* resource_spans;
  proto_trace::ScopeSpans* scope_spans;
};

// The ScopeSpans for `record`'s resource and scope, added (with their
// ResourceSpans if the resource is new) on first use.
proto_trace::ScopeSpans* ScopeSpansFor(collector::ExportTraceServiceRequest& request,
                                       std::vector<Group>& groups, const SpanRecord& record) {
  proto_trace::ResourceSpans* resource_spans = nullptr;
  for (const Group& group : groups) {
    if (group.resource != record.resource()) continue;
    if (group.scope == record.scope()) return group.scope_spans;
    resource_spans = group.resource_spans;
  }
  if (resource_spans == nullptr) {
    resource_spans = request.add_resource_spans();
    if (record.resource() != nullptr) {
      OtlpPopulateAttributeUtils::PopulateAttribute(resource_spans->mutable_resource(),
                                                    *record.resource());
      resource_spans->set_schema_url(record.resource()->GetSchemaURL());
    }
  }
  proto_trace::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
  if (record.scope() != nullptr) {
    opentelemetry::proto::common::v1::InstrumentationScope* scope = scope_spans->mutable_scope();
    scope->set_name(record.scope()->GetName());
    scope->set_version(record.scope()->GetVersion());
    OtlpPopulateAttributeUtils::PopulateAttribute(scope, *record.scope());
    scope_spans->set_schema_url(record.scope()->GetSchemaURL());
  }
  groups.push_back({record.resource(), record.scope(), resource_spans, scope_spans});
  return scope_spans;
}

}  // namespace

void BuildExportRequest(
    const opentelemetry::nostd::span<std::unique_ptr<sdk_trace::Recordable>>& spans,
    collector::ExportTraceServiceRequest* request) {
  std::vector<Group> groups;
  proto_trace::ScopeSpans* last = nullptr;
  const SpanRecord* last_record = nullptr;
  for (const std::unique_ptr<sdk_trace::Recordable>& recordable : spans) {
    if (recordable == nullptr) continue;
    // Every recordable comes from OtlpSpanExporter::MakeRecordable().
    const auto& record = static_cast<const SpanRecord&>(*recordable);
    if (last == nullptr || record.resource() != last_record->resource() ||
        record.scope() != last_record->scope()) {
      last = ScopeSpansFor(*request, groups, record);
    }
    last_record = &record;
    record.ToProto(last->add_spans());
  }
}

OtlpSpanExporter::OtlpSpanExporter(opentelemetry::exporter::otlp::OtlpGrpcExporterOptions options)
    : options_(std::move(options)) {}

OtlpSpanExporter::~OtlpSpanExporter() = default;

std::unique_ptr<sdk_trace::Recordable> OtlpSpanExporter::MakeRecordable() noexcept {
  return std::make_unique<SpanRecord>();
}

ExportResult OtlpSpanExporter::Export(
    const opentelemetry::nostd::span<std::unique_ptr<sdk_trace::Recordable>>& spans) noexcept {
  if (shut_down_.load(std::memory_order_relaxed)) return ExportResult::kFailure;
  if (spans.empty()) return ExportResult::kSuccess;
  if (stub_ == nullptr) {
    stub_ = collector::TraceService::NewStub(OtlpGrpcClient::MakeChannel(options_));
    if (stub_ == nullptr) return ExportResult::kFailure;
  }

  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = kArenaInitialBlock;
  arena_options.max_block_size = kArenaMaxBlock;
  google::protobuf::Arena arena(arena_options);
  auto* request = google::protobuf::Arena::CreateMessage<collector::ExportTraceServiceRequest>(&arena);
  BuildExportRequest(spans, request);
  std::unique_ptr<grpc::ClientContext> context = OtlpGrpcClient::MakeClientContext(options_);
  auto* response =
      google::protobuf::Arena::CreateMessage<collector::ExportTraceServiceResponse>(&arena);
  const grpc::Status status = stub_->Export(context.get(), *request, response);
  if (!status.ok()) {
    OTEL_INTERNAL_LOG_ERROR("[OTLP gRPC span exporter] exporting "
                            << spans.size() << " span(s) failed: " << status.error_code() << " "
                            << status.error_message());
    return ExportResult::kFailure;
  }
  return ExportResult::kSuccess;
}

bool OtlpSpanExporter::ForceFlush(std::chrono::microseconds /*timeout*/) noexcept { return true; }

bool OtlpSpanExporter::Shutdown(std::chrono::microseconds /*timeout*/) noexcept {
  shut_down_.store(true, std::memory_order_relaxed);
  return true;
}

}  // namespace polymesh::observability
