// The resource and instrumentation scope of spans as the OTLP protobuf
// messages that carry them (resource/v1, common/v1): each attribute a
// KeyValue with a string AnyValue.
//
// Usage:
//
//   opentelemetry::proto::resource::v1::Resource out;
//   SetResource(resource, &out);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_ATTRIBUTES_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_ATTRIBUTES_H_

#include "observability/resource.h"
#include "opentelemetry/proto/common/v1/common.pb.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"

namespace polymesh::observability {

// Fills `out` with the resource's attributes.
void SetResource(const Resource& resource, opentelemetry::proto::resource::v1::Resource* out);

// Fills `out` with the scope's name and version.
void SetScope(const InstrumentationScope& scope,
              opentelemetry::proto::common::v1::InstrumentationScope* out);

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_ATTRIBUTES_H_
