#include "observability/otlp_exporter.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/support/byte_buffer.h"
#include "observability/otlp_attributes.h"
#include "observability/span_record.h"
#include "observability/wire_format.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace polymesh::observability {
namespace {

namespace collector = opentelemetry::proto::collector::trace::v1;
namespace proto_trace = opentelemetry::proto::trace::v1;

constexpr char kExportMethod[] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

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
      SetResource(*record.resource(), resource_spans->mutable_resource());
    }
  }
  proto_trace::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
  if (record.scope() != nullptr) SetScope(*record.scope(), scope_spans->mutable_scope());
  groups.push_back({record.resource(), record.scope(), resource_spans, scope_spans});
  return scope_spans;
}

}  // namespace

void BuildExportRequest(
    absl::Span<const std::unique_ptr<SpanRecord>> spans,
    collector::ExportTraceServiceRequest* request) {
  std::vector<Group> groups;
  proto_trace::ScopeSpans* last = nullptr;
  const SpanRecord* last_record = nullptr;
  for (const std::unique_ptr<SpanRecord>& span : spans) {
    if (span == nullptr) continue;
    const SpanRecord& record = *span;
    if (last == nullptr || record.resource() != last_record->resource() ||
        record.scope() != last_record->scope()) {
      last = ScopeSpansFor(*request, groups, record);
    }
    last_record = &record;
    record.ToProto(last->add_spans());
  }
}

std::string_view ExportRequestWriter::Write(absl::Span<const std::unique_ptr<SpanRecord>> spans) {
  using collector::ExportTraceServiceRequest;
  using proto_trace::ResourceSpans;
  using proto_trace::ScopeSpans;
  group_count_ = 0;
  Group* group = nullptr;
  for (const std::unique_ptr<SpanRecord>& span : spans) {
    if (span == nullptr) continue;
    const SpanRecord& record = *span;
    if (group == nullptr || group->resource != record.resource() ||
        group->scope != record.scope()) {
      group = nullptr;
      for (size_t i = 0; i < group_count_; ++i) {
        if (groups_[i].resource == record.resource() && groups_[i].scope == record.scope()) {
          group = &groups_[i];
        }
      }
      if (group == nullptr) {
        if (group_count_ == groups_.size()) groups_.emplace_back();
        group = &groups_[group_count_++];
        group->resource = record.resource();
        group->scope = record.scope();
        group->spans.clear();
      }
    }
    span_.clear();
    record.AppendWire(span_);
    wire::PutLengthDelimited(group->spans, ScopeSpans::kSpansFieldNumber, span_);
  }

  out_.clear();
  for (size_t first = 0; first < group_count_; ++first) {
    const Resource* resource = groups_[first].resource;
    bool seen = false;  // this resource went out with an earlier group
    for (size_t i = 0; i < first; ++i) seen = seen || groups_[i].resource == resource;
    if (seen) continue;
    resource_spans_.clear();
    if (resource != nullptr) {
      opentelemetry::proto::resource::v1::Resource resource_proto;
      SetResource(*resource, &resource_proto);
      wire::PutLengthDelimited(resource_spans_, ResourceSpans::kResourceFieldNumber,
                               resource_proto.SerializeAsString());
    }
    for (size_t i = first; i < group_count_; ++i) {
      if (groups_[i].resource != resource) continue;
      scope_spans_.clear();
      const InstrumentationScope* scope = groups_[i].scope;
      if (scope != nullptr) {
        opentelemetry::proto::common::v1::InstrumentationScope scope_proto;
        SetScope(*scope, &scope_proto);
        wire::PutLengthDelimited(scope_spans_, ScopeSpans::kScopeFieldNumber,
                                 scope_proto.SerializeAsString());
      }
      scope_spans_ += groups_[i].spans;
      wire::PutLengthDelimited(resource_spans_, ResourceSpans::kScopeSpansFieldNumber,
                               scope_spans_);
    }
    wire::PutLengthDelimited(out_, ExportTraceServiceRequest::kResourceSpansFieldNumber,
                             resource_spans_);
  }
  return out_;
}

OtlpSpanExporter::OtlpSpanExporter(OtlpOptions options)
    : options_(std::move(options)) {}

OtlpSpanExporter::~OtlpSpanExporter() = default;

ExportResult OtlpSpanExporter::Export(absl::Span<const std::unique_ptr<SpanRecord>> spans) {
  if (shut_down_.load(std::memory_order_relaxed)) return ExportResult::kFailure;
  if (spans.empty()) return ExportResult::kSuccess;
  std::shared_ptr<grpc::Channel> channel;
  const grpc::internal::RpcMethod* method = nullptr;
  std::unique_ptr<ExportRequestWriter> writer;
  {
    absl::MutexLock lock(&mu_);
    if (channel_ == nullptr) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel_or = MakeOtlpChannel(options_);
      if (!channel_or.ok()) {
        gateway::Log(gateway::LogLevel::kError, "span export failed",
                     {{"error", channel_or.status().message()}});
        return ExportResult::kFailure;
      }
      channel_ = *std::move(channel_or);
      export_method_ = std::make_unique<grpc::internal::RpcMethod>(
          kExportMethod, grpc::internal::RpcMethod::NORMAL_RPC, channel_);
    }
    channel = channel_;
    method = export_method_.get();
    if (!writers_.empty()) {
      writer = std::move(writers_.back());
      writers_.pop_back();
    }
  }
  if (writer == nullptr) writer = std::make_unique<ExportRequestWriter>();
  const std::string_view bytes = writer->Write(spans);
  grpc::Slice slice(bytes.data(), bytes.size());
  const grpc::ByteBuffer request(&slice, 1);
  {
    absl::MutexLock lock(&mu_);
    writers_.push_back(std::move(writer));
  }
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  PrepareOtlpContext(options_, context);
  // What the generated stub does, with the request already serialized.
  const grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), *method, &context, request, &response);
  if (!status.ok()) {
    gateway::Log(gateway::LogLevel::kError, "span export failed",
                 {{"spans", absl::StrCat(spans.size())},
                  {"code", gateway::GrpcStatusName(static_cast<int>(status.error_code()))},
                  {"error", status.error_message()}});
    return ExportResult::kFailure;
  }
  return ExportResult::kSuccess;
}

bool OtlpSpanExporter::Shutdown(std::chrono::microseconds /*timeout*/) {
  shut_down_.store(true, std::memory_order_relaxed);
  return true;
}

}  // namespace polymesh::observability
