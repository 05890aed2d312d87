// Parsing the gateway's YAML configuration into its proto schema
// (polymesh.gateway.v1.GatewayConfig), with the file position of every field;
// the first step of loading (config_loader.h validates and checks what this
// parses).
//
// The YAML tree is walked against the proto descriptor, so every key must be
// a field of the message it sits in and every value must fit the field's
// type; durations are strings such as "1.5s" or "250ms". Errors name the file,
// line and column, and the field path:
//
//   mesh.yaml:7:16: clusters[0].connect_timeout: invalid duration "fast" ...
//
// Usage:
//
//   absl::StatusOr<ParsedConfig> parsed = ParseConfigYaml(text, "mesh.yaml");
//   if (!parsed.ok()) { /* parsed.status().message() says what and where */ }
#ifndef POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_PARSER_H_
#define POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_PARSER_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "polymesh/gateway/v1/config.pb.h"

namespace polymesh::gateway {

using ::polymesh::gateway::v1::GatewayConfig;

// The reserved cluster name routes use for the gateway's own services
// (local_services).
inline constexpr absl::string_view kLocalClusterName = "local";

// A duration of the configuration (google.protobuf.Duration) as absl's.
inline absl::Duration ToAbslDuration(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
}

// A position in a configuration file, 1-based.
struct SourcePosition {
  // The line, from 1.
  int line = 0;
  // The column, from 1.
  int column = 0;
};

// A parsed (not yet validated) configuration with the file positions of its
// fields, so that later checks can say where a bad value was written.
struct ParsedConfig {
  // The configuration.
  GatewayConfig config;
  // The file name (or another name for the source) used in messages.
  std::string source_name;
  // Position of each field, list item and message by its path, such as
  // "routes[1].match.service".
  absl::flat_hash_map<std::string, SourcePosition> positions;

  // "file:line:column: path: " for `path`, using the position of the
  // nearest enclosing field that has one ("file: path: " if none does).
  std::string Where(absl::string_view path) const;
};

// Parses YAML text against the schema. `source_name` names the text in
// error messages. INVALID_ARGUMENT on malformed YAML, an unknown key, a value
// of the wrong type or a bad duration.
absl::StatusOr<ParsedConfig> ParseConfigYaml(absl::string_view yaml,
                                             absl::string_view source_name);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_PARSER_H_
