// API keys: a file of callers, each a name (the principal), the SHA-256 of
// its key and optional groups. The gateway keeps only the hashes, so the
// file holds no secret:
//
//   keys:
//     - name: demo
//       sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//       groups: [ai-users]
//
// A key written in the clear (`key:`) is refused. Fields the gateway does
// not use (such as `requests_per_second`) are ignored, so that one file may
// serve the gateway and a service.
//
// Usage:
//
//   absl::StatusOr<std::shared_ptr<const ApiKeys>> keys = ApiKeys::ReadFile(path);
//   const ApiKeyCaller* caller = (*keys)->Find(header_value);
//   if (caller == nullptr) { /* UNAUTHENTICATED */ }
#ifndef POLYMESH_GATEWAY_SRC_AUTH_API_KEYS_H_
#define POLYMESH_GATEWAY_SRC_AUTH_API_KEYS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/sha256.h"

namespace polymesh::gateway {

// The caller a key belongs to.
struct ApiKeyCaller {
  // The principal.
  std::string name;
  // Its groups, in file order.
  std::vector<std::string> groups;
};

// The keys of a key file, by hash.
class ApiKeys {
 public:
  // Parses key file text; `source` names it in errors. INVALID_ARGUMENT
  // naming the entry and field: a missing or repeated name, a missing or
  // malformed sha256, a key in the clear, a hash given twice.
  static absl::StatusOr<std::shared_ptr<const ApiKeys>> Parse(absl::string_view yaml,
                                                              absl::string_view source);
  // Reads and parses the file at `path`; NOT_FOUND when it cannot be read.
  static absl::StatusOr<std::shared_ptr<const ApiKeys>> ReadFile(const std::string& path);

  // The caller whose key is `key`, or nullptr.
  const ApiKeyCaller* Find(absl::string_view key) const;
  // How many keys there are.
  size_t size() const { return by_hash_.size(); }

 private:
  absl::flat_hash_map<Sha256Digest, ApiKeyCaller> by_hash_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_AUTH_API_KEYS_H_
