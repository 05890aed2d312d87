// Base64url (RFC 4648 §5) without padding, as JOSE writes it (RFC 7515 §2):
// the segments of a JWT and the numbers of a JWK.
//
// Decoding is strict: '=' padding, characters outside the URL-safe alphabet
// (whitespace and the '+' and '/' of standard base64 included), impossible
// lengths and non-zero bits after the last byte are all refused, so each
// byte string has exactly one encoding.
//
// Usage:
//
//   std::string segment = Base64UrlEncode("{\"alg\":\"ES256\"}");
//   std::optional<std::string> bytes = Base64UrlDecode(segment);
//   if (!bytes.has_value()) { /* not base64url */ }
#ifndef POLYMESH_GATEWAY_SRC_AUTH_BASE64URL_H_
#define POLYMESH_GATEWAY_SRC_AUTH_BASE64URL_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// The bytes that `encoded` (unpadded base64url) stands for; nullopt when it
// is not exactly that.
std::optional<std::string> Base64UrlDecode(absl::string_view encoded);

// `bytes` in unpadded base64url.
std::string Base64UrlEncode(absl::string_view bytes);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_AUTH_BASE64URL_H_
