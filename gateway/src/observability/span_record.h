// A compact span recordable for the OTLP exporter: the fields of one finished
// span, kept without a heap allocation per attribute, written into an OTLP
// protobuf message only when its batch is exported.
//
// opentelemetry-cpp's own OtlpRecordable builds a heap protobuf Span as the
// span is recorded (a message, a key and a value per attribute) and the
// exporter then copies it into the request. SpanRecord keeps the span's ids,
// times, kind and status as plain fields, and its name, attribute keys and
// string values in one inline text buffer; attribute values of other types
// (arrays), events and links are rare for the gateway and go to a side
// structure allocated on first use.
//
// Usage (what the exporter does with the spans of a batch):
//
//   std::unique_ptr<Recordable> record = exporter.MakeRecordable();  // a SpanRecord
//   ... the tracer fills it through the Recordable interface ...
//   auto* span = google::protobuf::Arena::CreateMessage<proto::trace::v1::Span>(&arena);
//   static_cast<const SpanRecord&>(*record).ToProto(span);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_RECORD_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_RECORD_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/inlined_vector.h"
#include "opentelemetry/common/attribute_value.h"
#include "opentelemetry/common/key_value_iterable.h"
#include "opentelemetry/common/timestamp.h"
#include "opentelemetry/nostd/string_view.h"
#include "opentelemetry/sdk/instrumentationscope/instrumentation_scope.h"
#include "opentelemetry/sdk/resource/resource.h"
#include "opentelemetry/sdk/trace/recordable.h"
#include "opentelemetry/trace/span_context.h"
#include "opentelemetry/trace/span_id.h"
#include "opentelemetry/trace/span_metadata.h"
#include "opentelemetry/trace/trace_flags.h"
#include "opentelemetry/trace/trace_state.h"

namespace opentelemetry::proto::trace::v1 {
class Span;
}  // namespace opentelemetry::proto::trace::v1

namespace polymesh::observability {

// One span's data, recorded through the SDK's Recordable interface. Not
// thread-safe: one thread records it, then it is handed to the exporter.
class SpanRecord final : public opentelemetry::sdk::trace::Recordable {
 public:
  SpanRecord();
  ~SpanRecord() override;
  SpanRecord(const SpanRecord&) = delete;
  SpanRecord& operator=(const SpanRecord&) = delete;

  // Recordable.
  void SetIdentity(const opentelemetry::trace::SpanContext& span_context,
                   opentelemetry::trace::SpanId parent_span_id) noexcept override;
  void SetAttribute(opentelemetry::nostd::string_view key,
                    const opentelemetry::common::AttributeValue& value) noexcept override;
  void AddEvent(opentelemetry::nostd::string_view name,
                opentelemetry::common::SystemTimestamp timestamp,
                const opentelemetry::common::KeyValueIterable& attributes) noexcept override;
  void AddLink(const opentelemetry::trace::SpanContext& span_context,
               const opentelemetry::common::KeyValueIterable& attributes) noexcept override;
  void SetStatus(opentelemetry::trace::StatusCode code,
                 opentelemetry::nostd::string_view description) noexcept override;
  void SetName(opentelemetry::nostd::string_view name) noexcept override;
  void SetTraceFlags(opentelemetry::trace::TraceFlags flags) noexcept override;
  void SetSpanKind(opentelemetry::trace::SpanKind span_kind) noexcept override;
  void SetResource(const opentelemetry::sdk::resource::Resource& resource) noexcept override;
  void SetStartTime(opentelemetry::common::SystemTimestamp start_time) noexcept override;
  void SetDuration(std::chrono::nanoseconds duration) noexcept override;
  void SetInstrumentationScope(const opentelemetry::sdk::instrumentationscope::InstrumentationScope&
                                   instrumentation_scope) noexcept override;

  // The resource and instrumentation scope the span was recorded with (null
  // if never set); they outlive the span.
  const opentelemetry::sdk::resource::Resource* resource() const { return resource_; }
  const opentelemetry::sdk::instrumentationscope::InstrumentationScope* scope() const {
    return scope_;
  }

  // Writes the span into `span` (typically arena-allocated): ids, trace
  // state, flags, name, kind, times, attributes (in the order set), events,
  // links and status, as the OTLP specification maps them.
  void ToProto(opentelemetry::proto::trace::v1::Span* span) const;

  // Appends the span's OTLP Span message in protobuf wire format to `out`
  // (the same content as ToProto, field by field, without building a
  // message: no allocation beyond `out`'s growth, except for array
  // attributes, events and links).
  void AppendWire(std::string& out) const;

 private:
  enum class Type : uint8_t { kBool, kInt, kDouble, kString };
  // A scalar attribute; strings (and the key) live in `text_`.
  struct Attribute {
    uint32_t key_offset;
    uint32_t key_size;
    Type type;
    union {
      bool bool_value;
      int64_t int_value;
      double double_value;
      struct {
        uint32_t offset;
        uint32_t size;
      } string_value;
    };
  };
  struct Extras;

  // Appends `text` to `text_`; returns its offset.
  uint32_t Append(opentelemetry::nostd::string_view text);
  std::string_view Text(uint32_t offset, uint32_t size) const {
    return {text_ + offset, size};
  }
  Extras& extras();

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
  const opentelemetry::sdk::resource::Resource* resource_ = nullptr;
  const opentelemetry::sdk::instrumentationscope::InstrumentationScope* scope_ = nullptr;
  absl::InlinedVector<Attribute, 10> attributes_;
  // The text: inline_text_ until it is full, then a heap buffer (the
  // record is neither copied nor moved, so text_ may point into itself).
  static constexpr uint32_t kInlineText = 384;
  char* text_ = inline_text_;
  uint32_t text_size_ = 0;
  uint32_t text_capacity_ = kInlineText;
  std::unique_ptr<char[]> heap_text_;
  char inline_text_[kInlineText];
  // Array attributes, events and links; null until one is recorded.
  std::unique_ptr<Extras> extras_;
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_RECORD_H_
