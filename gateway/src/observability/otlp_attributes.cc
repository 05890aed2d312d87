#include "observability/otlp_attributes.h"

namespace polymesh::observability {

void SetResource(const Resource& resource, opentelemetry::proto::resource::v1::Resource* out) {
  for (const auto& [key, value] : resource.attributes) {
    opentelemetry::proto::common::v1::KeyValue* attribute = out->add_attributes();
    attribute->set_key(key);
    attribute->mutable_value()->set_string_value(value);
  }
}

void SetScope(const InstrumentationScope& scope,
              opentelemetry::proto::common::v1::InstrumentationScope* out) {
  out->set_name(scope.name);
  out->set_version(scope.version);
}

}  // namespace polymesh::observability
