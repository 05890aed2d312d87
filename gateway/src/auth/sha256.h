// SHA-256 (OpenSSL's one-shot digest), for API key hashes and the cache keys
// of verified tokens.
//
// Usage:
//
//   Sha256Digest digest = Sha256("polymesh-demo-key");
//   std::string hex = Sha256Hex("polymesh-demo-key");   // 64 lowercase digits
#ifndef POLYMESH_GATEWAY_SRC_AUTH_SHA256_H_
#define POLYMESH_GATEWAY_SRC_AUTH_SHA256_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// A SHA-256 digest.
using Sha256Digest = std::array<uint8_t, 32>;

// The SHA-256 digest of `data`.
Sha256Digest Sha256(absl::string_view data);

// The SHA-256 digest of `data` as 64 lowercase hexadecimal digits.
std::string Sha256Hex(absl::string_view data);

// The digest written as 64 hexadecimal digits (either case); nullopt for any
// other text.
std::optional<Sha256Digest> ParseSha256Hex(absl::string_view hex);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_AUTH_SHA256_H_
