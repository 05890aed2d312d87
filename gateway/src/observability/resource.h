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

// An OTLP Resource: its attributes, exported in key order.
struct Resource {
  std::map<std::string, std::string> attributes;
};

// An OTLP InstrumentationScope.
struct InstrumentationScope {
  std::string name;
  std::string version;
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_RESOURCE_H_
