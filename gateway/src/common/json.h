// JSON string literals for the JSON the gateway and its tools write by hand
// (log lines, access log records, reports), where a whole JSON library
// would be more than the few fields need.
//
// Usage:
//
//   std::string out = "{\"msg\":";
//   AppendJsonString(out, message);   // quoted and escaped (RFC 8259)
//   out += "}";
#ifndef POLYMESH_GATEWAY_SRC_COMMON_JSON_H_
#define POLYMESH_GATEWAY_SRC_COMMON_JSON_H_

#include <string>

#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// Appends `value` to `out` as a JSON string literal: quotes, backslashes and
// control characters escaped; other bytes (UTF-8 included) as they are.
void AppendJsonString(std::string& out, absl::string_view value);

// `value` as a JSON string literal.
std::string JsonString(absl::string_view value);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_JSON_H_
