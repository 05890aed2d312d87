// OpenTelemetry attribute values, resources and instrumentation scopes as
// the OTLP protobuf messages that carry them (common/v1, resource/v1),
// following the OTLP specification's mapping of attribute types: scalars to
// their AnyValue field, unsigned integers to int_value, byte arrays to
// bytes_value, other arrays to an ArrayValue of scalars.
//
// Usage:
//
//   opentelemetry::proto::common::v1::KeyValue key_value;
//   SetKeyValue("rpc.system", opentelemetry::common::AttributeValue("grpc"), &key_value);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_ATTRIBUTES_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_ATTRIBUTES_H_

#include <string_view>

#include "opentelemetry/common/attribute_value.h"
#include "opentelemetry/proto/common/v1/common.pb.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "opentelemetry/sdk/common/attribute_utils.h"
#include "opentelemetry/sdk/instrumentationscope/instrumentation_scope.h"
#include "opentelemetry/sdk/resource/resource.h"

namespace polymesh::observability {

// Sets `out` to `value`.
void SetAnyValue(const opentelemetry::common::AttributeValue& value,
                 opentelemetry::proto::common::v1::AnyValue* out);
void SetAnyValue(const opentelemetry::sdk::common::OwnedAttributeValue& value,
                 opentelemetry::proto::common::v1::AnyValue* out);

// Sets `out` to the attribute `key` = `value`.
void SetKeyValue(std::string_view key, const opentelemetry::common::AttributeValue& value,
                 opentelemetry::proto::common::v1::KeyValue* out);
void SetKeyValue(std::string_view key,
                 const opentelemetry::sdk::common::OwnedAttributeValue& value,
                 opentelemetry::proto::common::v1::KeyValue* out);

// Adds `resource`'s attributes to `out` (its schema URL goes in the
// enclosing ResourceSpans).
void SetResource(const opentelemetry::sdk::resource::Resource& resource,
                 opentelemetry::proto::resource::v1::Resource* out);

// Sets `out`'s name, version and attributes from `scope` (its schema URL goes
// in the enclosing ScopeSpans).
void SetScope(const opentelemetry::sdk::instrumentationscope::InstrumentationScope& scope,
              opentelemetry::proto::common::v1::InstrumentationScope* out);

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_ATTRIBUTES_H_
