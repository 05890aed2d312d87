// Semantic checks of a parsed gateway configuration: what the schema alone
// cannot say.
//
// Checked: a listener with an address; addresses numeric IPs or "localhost",
// or for cluster endpoints also DNS host names (RFC 1123 syntax only: names
// are resolved when the gateway starts); ports in range; workers at most 256;
// cluster names unique, not "local", each cluster with endpoints; route names
// unique; every route with a well-formed match rule and a cluster that exists
// (or "local", which needs local_services); durations not negative; the
// ranges of retry policies (status names, attempts, backoffs, buffer and
// budget) and mirrors (an existing cluster other than "local", percent,
// max_buffered_bytes); contracts.reflection entries naming an existing
// cluster, with a timeout of at least 1ms when set.
//
// Usage:
//
//   absl::StatusOr<ParsedConfig> parsed = ParseConfigYaml(text, "mesh.yaml");
//   absl::Status valid = ValidateConfig(*parsed);
#ifndef POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_VALIDATOR_H_
#define POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_VALIDATOR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "config/config_parser.h"

namespace polymesh::gateway {

// The most worker threads a config may ask for.
inline constexpr uint32_t kMaxWorkers = 256;

// The most attempts a retry policy may ask for (the first one included).
inline constexpr uint32_t kMaxRetryAttempts = 10;

// The largest request a retry policy may keep for replay.
inline constexpr uint32_t kMaxRetryBufferBytes = 64u << 20;

// Returns OK, or INVALID_ARGUMENT naming the first bad field and where it
// was written.
absl::Status ValidateConfig(const ParsedConfig& parsed);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_VALIDATOR_H_
