// A host and a port as one address string, "host:port", with an IPv6
// literal in brackets ("[::1]:8080"), the form gRPC targets, listening
// addresses and messages use.
//
// Usage:
//
//   builder.AddListeningPort(JoinHostPort(address, port), credentials);
#ifndef POLYMESH_GATEWAY_SRC_COMMON_HOST_PORT_H_
#define POLYMESH_GATEWAY_SRC_COMMON_HOST_PORT_H_

#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// `host` (a name, an IPv4 or an IPv6 literal) and `port` joined.
inline std::string JoinHostPort(absl::string_view host, uint32_t port) {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_HOST_PORT_H_
