// The record of one span, as the tracer fills it and the OTLP exporter
// writes it: ids, times, kind and status as plain fields, and the name,
// attribute keys and string values in one inline text buffer, so that
// recording a span costs no heap allocation per attribute. Nothing becomes
// an OTLP protobuf message until its batch is exported.
//
// (opentelemetry-cpp's own OtlpRecordable builds a heap protobuf Span as
// the span is recorded, a message, a key and a value per attribute, that the
// exporter then copies into the request.)
//
// Usage:
//
//   auto record = std::make_unique<SpanRecord>();
//   record->SetName("polymesh.ai.v1.AIService/Predict");
//   record->SetAttribute("rpc.system", "grpc");
//   ...
//   record->AppendWire(out);  // or ToProto(&span)
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_RECORD_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_RECORD_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "absl/container/inlined_vector.h"
#include "observability/resource.h"
#include "opentelemetry/nostd/shared_ptr.h"
#include "opentelemetry/trace/span_context.h"
#include "opentelemetry/trace/span_id.h"
#include "opentelemetry/trace/span_metadata.h"
#include "opentelemetry/trace/trace_flags.h"
#include "opentelemetry/trace/trace_id.h"
#include "opentelemetry/trace/trace_state.h"

namespace opentelemetry::proto::trace::v1 {
class Span;
}  // namespace opentelemetry::proto::trace::v1

namespace polymesh::observability {

// One span's data. Not thread-safe: one thread records it, then it is
// handed to the exporter. Neither copied nor moved (it may point into
// itself); hold it by unique_ptr.
class SpanRecord final {
 public:
  // An attribute value: OTLP's scalar types. (A string literal is a
  // string_view here, never a bool.)
  using Value = std::variant<bool, int64_t, double, std::string_view>;

  SpanRecord();
  ~SpanRecord();
  SpanRecord(const SpanRecord&) = delete;
  SpanRecord& operator=(const SpanRecord&) = delete;

  // Recording.
  // The span's trace id and span id (from `span_context`), its trace state
  // (if any) and its parent (an invalid id: none, a root span).
  void SetIdentity(const opentelemetry::trace::SpanContext& span_context,
                   opentelemetry::trace::SpanId parent_span_id);
  // Adds an attribute; attributes are exported in the order set.
  void SetAttribute(std::string_view key, Value value);
  // The status; its description is kept only with kError, as OTLP says.
  void SetStatus(opentelemetry::trace::StatusCode code, std::string_view description);
  void SetName(std::string_view name);
  void SetTraceFlags(opentelemetry::trace::TraceFlags flags);
  void SetSpanKind(opentelemetry::trace::SpanKind span_kind);
  void SetStartTime(std::chrono::system_clock::time_point start_time);
  void SetDuration(std::chrono::nanoseconds duration);
  // The resource and scope are not copied: they must outlive the record.
  void SetResource(const Resource& resource) { resource_ = &resource; }
  void SetInstrumentationScope(const InstrumentationScope& scope) { scope_ = &scope; }

  // Reading (what tests check; the exporter writes the whole record).
  std::string_view name() const { return Text(name_offset_, name_size_); }
  opentelemetry::trace::SpanKind kind() const { return kind_; }
  opentelemetry::trace::TraceId trace_id() const;
  opentelemetry::trace::SpanId span_id() const;
  // Invalid for a root span.
  opentelemetry::trace::SpanId parent_span_id() const;
  // The `tracestate` header value (empty: none).
  std::string trace_state() const;
  opentelemetry::trace::StatusCode status() const { return status_; }
  std::string_view status_message() const {
    return Text(status_message_offset_, status_message_size_);
  }
  // The value of the attribute `key` (the last one set under it), if any;
  // a string_view into the record.
  std::optional<Value> attribute(std::string_view key) const;
  // The resource and instrumentation scope the span was recorded with (null
  // if never set).
  const Resource* resource() const { return resource_; }
  const InstrumentationScope* scope() const { return scope_; }

  // Writes the span into `span` (typically arena-allocated): ids, trace
  // state, flags, name, kind, times, attributes (in the order set) and
  // status, as the OTLP specification maps them.
  void ToProto(opentelemetry::proto::trace::v1::Span* span) const;

  // Appends the span's OTLP Span message in protobuf wire format to `out`
  // (the same content as ToProto, field by field, without building a
  // message: no allocation beyond `out`'s growth).
  void AppendWire(std::string& out) const;

 private:
  enum class Type : uint8_t { kBool, kInt, kDouble, kString };
  // A string in `text_`.
  struct TextRange {
    uint32_t offset;
    uint32_t size;
  };
  // An attribute; strings (and the key) live in `text_`.
  struct Attribute {
    uint32_t key_offset;
    uint32_t key_size;
    Type type;
    union {
      bool bool_value;
      int64_t int_value;
      double double_value;
      TextRange string_value;
    };
  };

  // Appends `text` to `text_`; returns its offset.
  uint32_t Append(std::string_view text);
  std::string_view Text(uint32_t offset, uint32_t size) const {
    return {text_ + offset, size};
  }

  std::array<uint8_t, 16> trace_id_{};
  std::array<uint8_t, 8> span_id_{};
  std::array<uint8_t, 8> parent_span_id_{};
  bool has_parent_ = false;
  uint8_t flags_ = 0;
  opentelemetry::trace::SpanKind kind_ = opentelemetry::trace::SpanKind::kInternal;
  opentelemetry::trace::StatusCode status_ = opentelemetry::trace::StatusCode::kUnset;
  // Empty unless the context carried a trace state.
  opentelemetry::nostd::shared_ptr<opentelemetry::trace::TraceState> trace_state_;
  int64_t start_unix_nanos_ = 0;
  int64_t duration_nanos_ = 0;
  uint32_t name_offset_ = 0;
  uint32_t name_size_ = 0;
  uint32_t status_message_offset_ = 0;
  uint32_t status_message_size_ = 0;
  const Resource* resource_ = nullptr;
  const InstrumentationScope* scope_ = nullptr;
  absl::InlinedVector<Attribute, 10> attributes_;
  // The text: inline_text_ until it is full, then a heap buffer (the
  // record is neither copied nor moved, so text_ may point into itself).
  static constexpr uint32_t kInlineText = 384;
  char* text_ = inline_text_;
  uint32_t text_size_ = 0;
  uint32_t text_capacity_ = kInlineText;
  std::unique_ptr<char[]> heap_text_;
  char inline_text_[kInlineText];
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_RECORD_H_
