#include "observability/span_record.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "observability/wire_format.h"
#include "opentelemetry/nostd/span.h"
#include "opentelemetry/proto/common/v1/common.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace polymesh::observability {
namespace {

namespace proto_trace = opentelemetry::proto::trace::v1;

// A string whose size fits the record's 32-bit offsets; longer values (which
// no attribute of the gateway comes near) are cut.
constexpr size_t kMaxText = uint32_t{1} << 30;

proto_trace::Span::SpanKind KindToProto(opentelemetry::trace::SpanKind kind) {
  switch (kind) {
    case opentelemetry::trace::SpanKind::kInternal:
      return proto_trace::Span::SPAN_KIND_INTERNAL;
    case opentelemetry::trace::SpanKind::kServer:
      return proto_trace::Span::SPAN_KIND_SERVER;
    case opentelemetry::trace::SpanKind::kClient:
      return proto_trace::Span::SPAN_KIND_CLIENT;
    case opentelemetry::trace::SpanKind::kProducer:
      return proto_trace::Span::SPAN_KIND_PRODUCER;
    case opentelemetry::trace::SpanKind::kConsumer:
      return proto_trace::Span::SPAN_KIND_CONSUMER;
  }
  return proto_trace::Span::SPAN_KIND_UNSPECIFIED;
}

// A trace or span id from its bytes.
template <typename Id>
Id IdFrom(const std::array<uint8_t, Id::kSize>& bytes) {
  return Id(opentelemetry::nostd::span<const uint8_t, Id::kSize>(bytes.data(), bytes.size()));
}

}  // namespace

SpanRecord::SpanRecord() = default;
SpanRecord::~SpanRecord() = default;

uint32_t SpanRecord::Append(std::string_view text) {
  const uint32_t offset = text_size_;
  const size_t size = std::min(text.size(), kMaxText - text_size_);
  if (size == 0) return offset;  // an empty view's data() may be null: no memcpy
  if (text_size_ + size > text_capacity_) {
    const size_t capacity = std::min(std::max<size_t>(2 * text_capacity_, text_size_ + size),
                                     kMaxText);
    auto grown = std::make_unique<char[]>(capacity);
    std::memcpy(grown.get(), text_, text_size_);
    heap_text_ = std::move(grown);
    text_ = heap_text_.get();
    text_capacity_ = static_cast<uint32_t>(capacity);
  }
  std::memcpy(text_ + text_size_, text.data(), size);
  text_size_ += static_cast<uint32_t>(size);
  return offset;
}

void SpanRecord::SetIdentity(const opentelemetry::trace::SpanContext& span_context,
                             opentelemetry::trace::SpanId parent_span_id) {
  span_context.trace_id().CopyBytesTo(trace_id_);
  span_context.span_id().CopyBytesTo(span_id_);
  has_parent_ = parent_span_id.IsValid();
  if (has_parent_) parent_span_id.CopyBytesTo(parent_span_id_);
  const opentelemetry::nostd::shared_ptr<opentelemetry::trace::TraceState>& state =
      span_context.trace_state();
  if (state != nullptr && !state->Empty()) trace_state_ = state;
}

void SpanRecord::SetAttribute(std::string_view key, Value value) {
  Attribute attribute{};
  if (const auto* v = std::get_if<bool>(&value)) {
    attribute.type = Type::kBool;
    attribute.bool_value = *v;
  } else if (const auto* v = std::get_if<int64_t>(&value)) {
    attribute.type = Type::kInt;
    attribute.int_value = *v;
  } else if (const auto* v = std::get_if<double>(&value)) {
    attribute.type = Type::kDouble;
    attribute.double_value = *v;
  } else {
    attribute.type = Type::kString;
    attribute.string_value.offset = Append(std::get<std::string_view>(value));
    attribute.string_value.size = static_cast<uint32_t>(text_size_ - attribute.string_value.offset);
  }
  attribute.key_offset = Append(key);
  attribute.key_size = static_cast<uint32_t>(text_size_ - attribute.key_offset);
  attributes_.push_back(attribute);
}

void SpanRecord::SetStatus(opentelemetry::trace::StatusCode code, std::string_view description) {
  status_ = code;
  status_message_size_ = 0;
  // OTLP carries a message only with an error.
  if (code == opentelemetry::trace::StatusCode::kError && !description.empty()) {
    status_message_offset_ = Append(description);
    status_message_size_ = static_cast<uint32_t>(text_size_ - status_message_offset_);
  }
}

void SpanRecord::SetName(std::string_view name) {
  name_offset_ = Append(name);
  name_size_ = static_cast<uint32_t>(text_size_ - name_offset_);
}

void SpanRecord::SetTraceFlags(opentelemetry::trace::TraceFlags flags) { flags_ = flags.flags(); }

void SpanRecord::SetSpanKind(opentelemetry::trace::SpanKind span_kind) { kind_ = span_kind; }

void SpanRecord::SetStartTime(std::chrono::system_clock::time_point start_time) {
  start_unix_nanos_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(start_time.time_since_epoch()).count();
}

void SpanRecord::SetDuration(std::chrono::nanoseconds duration) {
  duration_nanos_ = duration.count();
}

opentelemetry::trace::TraceId SpanRecord::trace_id() const {
  return IdFrom<opentelemetry::trace::TraceId>(trace_id_);
}

opentelemetry::trace::SpanId SpanRecord::span_id() const {
  return IdFrom<opentelemetry::trace::SpanId>(span_id_);
}

opentelemetry::trace::SpanId SpanRecord::parent_span_id() const {
  return has_parent_ ? IdFrom<opentelemetry::trace::SpanId>(parent_span_id_)
                     : opentelemetry::trace::SpanId();
}

std::string SpanRecord::trace_state() const {
  return trace_state_ != nullptr ? trace_state_->ToHeader() : std::string();
}

std::optional<SpanRecord::Value> SpanRecord::attribute(std::string_view key) const {
  for (auto it = attributes_.rbegin(); it != attributes_.rend(); ++it) {
    if (Text(it->key_offset, it->key_size) != key) continue;
    switch (it->type) {
      case Type::kBool:
        return Value(it->bool_value);
      case Type::kInt:
        return Value(it->int_value);
      case Type::kDouble:
        return Value(it->double_value);
      case Type::kString:
        return Value(Text(it->string_value.offset, it->string_value.size));
    }
  }
  return std::nullopt;
}

void SpanRecord::ToProto(proto_trace::Span* span) const {
  span->set_trace_id(trace_id_.data(), trace_id_.size());
  span->set_span_id(span_id_.data(), span_id_.size());
  if (has_parent_) span->set_parent_span_id(parent_span_id_.data(), parent_span_id_.size());
  if (trace_state_ != nullptr) span->set_trace_state(trace_state_->ToHeader());
  span->set_flags(flags_ & proto_trace::SPAN_FLAGS_TRACE_FLAGS_MASK);
  const std::string_view name = Text(name_offset_, name_size_);
  span->set_name(name.data(), name.size());
  span->set_kind(KindToProto(kind_));
  span->set_start_time_unix_nano(static_cast<uint64_t>(start_unix_nanos_));
  span->set_end_time_unix_nano(static_cast<uint64_t>(start_unix_nanos_ + duration_nanos_));
  span->mutable_attributes()->Reserve(static_cast<int>(attributes_.size()));
  for (const Attribute& attribute : attributes_) {
    opentelemetry::proto::common::v1::KeyValue* out = span->add_attributes();
    const std::string_view key = Text(attribute.key_offset, attribute.key_size);
    out->set_key(key.data(), key.size());
    opentelemetry::proto::common::v1::AnyValue* value = out->mutable_value();
    switch (attribute.type) {
      case Type::kBool:
        value->set_bool_value(attribute.bool_value);
        break;
      case Type::kInt:
        value->set_int_value(attribute.int_value);
        break;
      case Type::kDouble:
        value->set_double_value(attribute.double_value);
        break;
      case Type::kString: {
        const std::string_view text =
            Text(attribute.string_value.offset, attribute.string_value.size);
        value->set_string_value(text.data(), text.size());
        break;
      }
    }
  }
  if (status_ != opentelemetry::trace::StatusCode::kUnset) {
    proto_trace::Status* status = span->mutable_status();
    status->set_code(static_cast<proto_trace::Status::StatusCode>(status_));
    const std::string_view message = Text(status_message_offset_, status_message_size_);
    if (!message.empty()) status->set_message(message.data(), message.size());
  }
}

// --- protobuf wire format ----------------------------------------------------


void SpanRecord::AppendWire(std::string& out) const {
  using proto_trace::Span;
  using KeyValue = opentelemetry::proto::common::v1::KeyValue;
  using AnyValue = opentelemetry::proto::common::v1::AnyValue;
  const auto bytes = [](const auto& array) {
    return std::string_view(reinterpret_cast<const char*>(array.data()), array.size());
  };
  wire::PutLengthDelimited(out, Span::kTraceIdFieldNumber, bytes(trace_id_));
  wire::PutLengthDelimited(out, Span::kSpanIdFieldNumber, bytes(span_id_));
  if (trace_state_ != nullptr) {
    wire::PutLengthDelimited(out, Span::kTraceStateFieldNumber, trace_state_->ToHeader());
  }
  if (has_parent_) {
    wire::PutLengthDelimited(out, Span::kParentSpanIdFieldNumber, bytes(parent_span_id_));
  }
  wire::PutLengthDelimited(out, Span::kNameFieldNumber, Text(name_offset_, name_size_));
  const Span::SpanKind kind = KindToProto(kind_);
  if (kind != Span::SPAN_KIND_UNSPECIFIED) {
    wire::PutTag(out, Span::kKindFieldNumber, wire::WireType::kVarint);
    wire::PutVarint(out, static_cast<uint64_t>(kind));
  }
  wire::PutFixed64(out, Span::kStartTimeUnixNanoFieldNumber,
                   static_cast<uint64_t>(start_unix_nanos_));
  wire::PutFixed64(out, Span::kEndTimeUnixNanoFieldNumber,
                   static_cast<uint64_t>(start_unix_nanos_ + duration_nanos_));
  for (const Attribute& attribute : attributes_) {
    // AnyValue's one field, then KeyValue's two, sized before they are
    // written (each tag is one byte: field numbers below 16).
    size_t value_size = 0;
    switch (attribute.type) {
      case Type::kBool:
        value_size = 1 + 1;
        break;
      case Type::kInt:
        value_size = 1 + wire::VarintSize(static_cast<uint64_t>(attribute.int_value));
        break;
      case Type::kDouble:
        value_size = 1 + 8;
        break;
      case Type::kString:
        value_size =
            1 + wire::VarintSize(attribute.string_value.size) + attribute.string_value.size;
        break;
    }
    const size_t key_value_size = 1 + wire::VarintSize(attribute.key_size) + attribute.key_size +
                                  1 + wire::VarintSize(value_size) + value_size;
    wire::PutTag(out, Span::kAttributesFieldNumber, wire::WireType::kLengthDelimited);
    wire::PutVarint(out, key_value_size);
    wire::PutLengthDelimited(out, KeyValue::kKeyFieldNumber,
                             Text(attribute.key_offset, attribute.key_size));
    wire::PutTag(out, KeyValue::kValueFieldNumber, wire::WireType::kLengthDelimited);
    wire::PutVarint(out, value_size);
    switch (attribute.type) {
      case Type::kBool:
        wire::PutTag(out, AnyValue::kBoolValueFieldNumber, wire::WireType::kVarint);
        out.push_back(attribute.bool_value ? 1 : 0);
        break;
      case Type::kInt:
        wire::PutTag(out, AnyValue::kIntValueFieldNumber, wire::WireType::kVarint);
        wire::PutVarint(out, static_cast<uint64_t>(attribute.int_value));
        break;
      case Type::kDouble: {
        uint64_t bits = 0;
        std::memcpy(&bits, &attribute.double_value, sizeof(bits));
        wire::PutFixed64(out, AnyValue::kDoubleValueFieldNumber, bits);
        break;
      }
      case Type::kString:
        wire::PutLengthDelimited(out, AnyValue::kStringValueFieldNumber,
                                 Text(attribute.string_value.offset, attribute.string_value.size));
        break;
    }
  }
  if (status_ != opentelemetry::trace::StatusCode::kUnset) {
    const uint64_t code = static_cast<uint64_t>(status_);
    const std::string_view message = Text(status_message_offset_, status_message_size_);
    const size_t message_size =
        message.empty() ? 0 : 1 + wire::VarintSize(message.size()) + message.size();
    wire::PutTag(out, Span::kStatusFieldNumber, wire::WireType::kLengthDelimited);
    wire::PutVarint(out, message_size + 1 + wire::VarintSize(code));
    if (!message.empty()) {
      wire::PutLengthDelimited(out, proto_trace::Status::kMessageFieldNumber, message);
    }
    wire::PutTag(out, proto_trace::Status::kCodeFieldNumber, wire::WireType::kVarint);
    wire::PutVarint(out, code);
  }
  const uint32_t flags = flags_ & proto_trace::SPAN_FLAGS_TRACE_FLAGS_MASK;
  if (flags != 0) wire::PutFixed32(out, Span::kFlagsFieldNumber, flags);
}

}  // namespace polymesh::observability
