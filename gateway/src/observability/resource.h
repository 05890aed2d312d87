// What OTLP says about where spans come from: the resource (the process that
// produces them: service.name, telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES) and
// the instrumentation scope (the code that records them). The gateway's
// attributes here are all strings, as the environment gives them.
//
// Usage:
//
//   Resource resource;
//   resource.attributes["service.name"] = "polymesh-gateway";
//   InstrumentationScope scope{"polymesh.gateway", "0.1.0"};
//   record.SetResource(resource);  // both outlive the spans that point to them
//   record.SetInstrumentationScope(scope);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_RESOURCE_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_RESOURCE_H_

#include <map>
#include <string>

namespace polymesh::observability {

// An OTLP Resource: attributes (exported in key order) and a schema URL
// (empty: none).
struct Resource {
  std::map<std::string, std::string> attributes;
  std::string schema_url;
};

// An OTLP InstrumentationScope.
struct InstrumentationScope {
  std::string name;
  std::string version;
  std::string schema_url;
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_RESOURCE_H_
