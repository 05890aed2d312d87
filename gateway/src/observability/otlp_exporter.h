// An OTLP/gRPC span exporter that serializes a whole batch of SpanRecords
// into one ExportTraceServiceRequest, written straight in protobuf wire
// format into buffers kept between batches.
//
// It replaces opentelemetry-cpp's OtlpGrpcExporter on the gateway's span
// path: that one records each span as a heap protobuf message and copies it
// into the request, and its library links gRPC and protobuf as shared
// libraries, which the gateway links statically. Its options are
// OtlpOptions, read from OTEL_EXPORTER_OTLP_* as the specification defines
// them (otlp_options.h). The channel is made on the first export.
//
// Usage:
//
//   absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(ProcessEnvironment());
//   auto exporter = std::make_unique<OtlpSpanExporter>(*options);
//   // hand it to a span processor; Export() is called from one thread.
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_EXPORTER_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_EXPORTER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "grpcpp/channel.h"
#include "grpcpp/impl/rpc_method.h"
#include "observability/otlp_options.h"
#include "observability/resource.h"
#include "observability/span_pipeline.h"
#include "observability/span_record.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace polymesh::observability {

// Fills `request` (typically arena-allocated) with `spans`: one
// ResourceSpans per resource, one ScopeSpans per instrumentation scope in
// it, spans in their order.
void BuildExportRequest(
    absl::Span<const std::unique_ptr<SpanRecord>> spans,
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* request);

// Writes the ExportTraceServiceRequest of a batch of SpanRecords straight
// in protobuf wire format (what BuildExportRequest builds, serialized),
// keeping its buffers between batches: at steady state a batch costs no
// allocation. Not thread-safe.
class ExportRequestWriter {
 public:
  // The serialized request for `spans`; valid until the next Write().
  std::string_view Write(absl::Span<const std::unique_ptr<SpanRecord>> spans);

 private:
  // The spans of one (resource, scope) pair, serialized.
  struct Group {
    const Resource* resource = nullptr;
    const InstrumentationScope* scope = nullptr;
    std::string spans;
  };
  std::vector<Group> groups_;
  size_t group_count_ = 0;
  std::string span_;
  std::string scope_spans_;
  std::string resource_spans_;
  std::string out_;
};

// Exports SpanRecords over OTLP/gRPC. Thread-safe:
// Export() may run on several threads at once (each uses a request writer
// of its own, from a pool).
class OtlpSpanExporter final : public SpanExporter {
 public:
  explicit OtlpSpanExporter(OtlpOptions options);
  ~OtlpSpanExporter() override;

  // Sends `spans` in one request; kFailure (and one error log line) if the
  // collector answered with an error or did not answer within the timeout.
  ExportResult Export(absl::Span<const std::unique_ptr<SpanRecord>> spans) override;
  // Later exports fail.
  bool Shutdown(std::chrono::microseconds timeout) override;

 private:
  const OtlpOptions options_;
  absl::Mutex mu_;
  // Made by the first export.
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::internal::RpcMethod> export_method_ ABSL_GUARDED_BY(mu_);
  // Writers not in use.
  std::vector<std::unique_ptr<ExportRequestWriter>> writers_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> shut_down_{false};
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_EXPORTER_H_
