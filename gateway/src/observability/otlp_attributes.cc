#include "observability/otlp_attributes.h"

#include <cstdint>
#include <string>
#include <vector>

#include "opentelemetry/nostd/span.h"
#include "opentelemetry/nostd/string_view.h"
#include "opentelemetry/nostd/variant.h"

namespace polymesh::observability {
namespace {

namespace nostd = opentelemetry::nostd;
using opentelemetry::proto::common::v1::AnyValue;
using opentelemetry::proto::common::v1::KeyValue;

// Writes one alternative of either variant into an AnyValue.
struct AnyValueWriter {
  AnyValue* out;

  void operator()(bool value) const { out->set_bool_value(value); }
  void operator()(int32_t value) const { out->set_int_value(value); }
  void operator()(int64_t value) const { out->set_int_value(value); }
  void operator()(uint32_t value) const { out->set_int_value(value); }
  // OTLP has no unsigned type: values above INT64_MAX wrap, as in other SDKs.
  void operator()(uint64_t value) const { out->set_int_value(static_cast<int64_t>(value)); }
  void operator()(double value) const { out->set_double_value(value); }
  void operator()(const char* value) const { out->set_string_value(value); }
  void operator()(nostd::string_view value) const {
    out->set_string_value(value.data(), value.size());
  }
  void operator()(const std::string& value) const { out->set_string_value(value); }
  void operator()(nostd::span<const uint8_t> value) const {
    out->set_bytes_value(reinterpret_cast<const char*>(value.data()), value.size());
  }
  void operator()(const std::vector<uint8_t>& value) const {
    out->set_bytes_value(reinterpret_cast<const char*>(value.data()), value.size());
  }
  // Any other array: an ArrayValue of its elements.
  template <typename T>
  void operator()(nostd::span<const T> values) const {
    WriteArray<T>(values);
  }
  template <typename T>
  void operator()(const std::vector<T>& values) const {
    WriteArray<T>(values);
  }
  template <typename T, typename Range>
  void WriteArray(const Range& values) const {
    auto* array = out->mutable_array_value();
    // The cast also turns std::vector<bool>'s proxy references into bools.
    for (auto&& value : values) AnyValueWriter{array->add_values()}(static_cast<const T&>(value));
  }
};

}  // namespace

void SetAnyValue(const opentelemetry::common::AttributeValue& value, AnyValue* out) {
  nostd::visit(AnyValueWriter{out}, value);
}

void SetAnyValue(const opentelemetry::sdk::common::OwnedAttributeValue& value, AnyValue* out) {
  nostd::visit(AnyValueWriter{out}, value);
}

void SetKeyValue(std::string_view key, const opentelemetry::common::AttributeValue& value,
                 KeyValue* out) {
  out->set_key(key.data(), key.size());
  SetAnyValue(value, out->mutable_value());
}

void SetKeyValue(std::string_view key,
                 const opentelemetry::sdk::common::OwnedAttributeValue& value, KeyValue* out) {
  out->set_key(key.data(), key.size());
  SetAnyValue(value, out->mutable_value());
}

void SetResource(const opentelemetry::sdk::resource::Resource& resource,
                 opentelemetry::proto::resource::v1::Resource* out) {
  for (const auto& [key, value] : resource.GetAttributes()) {
    SetKeyValue(key, value, out->add_attributes());
  }
}

void SetScope(const opentelemetry::sdk::instrumentationscope::InstrumentationScope& scope,
              opentelemetry::proto::common::v1::InstrumentationScope* out) {
  out->set_name(scope.GetName());
  out->set_version(scope.GetVersion());
  for (const auto& [key, value] : scope.GetAttributes()) {
    SetKeyValue(key, value, out->add_attributes());
  }
}

}  // namespace polymesh::observability
