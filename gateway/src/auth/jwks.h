// A JSON Web Key Set (RFC 7517): the public keys that JWTs are verified
// with, parsed once when the configuration loads.
//
// Three kinds of key are kept: RSA (at least 2048 bits), EC on P-256, and
// OKP Ed25519 (RFC 8037). Keys for another use than signatures ("use" other
// than "sig", "key_ops" without "verify"), keys of other types or curves
// (symmetric "oct" keys among them) and keys whose "alg" is not the one
// algorithm the gateway accepts for their type are skipped; a set left with
// no key at all is refused. A key of a kept kind that is malformed (a
// missing or undecodable member, a short RSA modulus, an EC point off the
// curve, a private member) fails the whole set.
//
// A Jwks is immutable and may be shared by every worker.
//
// Usage:
//
//   absl::StatusOr<std::shared_ptr<const Jwks>> jwks =
//       Jwks::ReadFile("/etc/polymesh/issuer-jwks.json");
//   if (!jwks.ok()) return jwks.status();   // names the file, key and member
//   for (const JwksKey& key : (*jwks)->keys()) { ... }
#ifndef POLYMESH_GATEWAY_SRC_AUTH_JWKS_H_
#define POLYMESH_GATEWAY_SRC_AUTH_JWKS_H_

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// One public key of a JWKS.
struct JwksKey {
  // The key's "kid"; may be empty.
  std::string kid;
  // The key's "alg" if given ("RS256", "ES256" or "EdDSA", the one matching
  // its type), else empty.
  std::string alg;
  // The key's type: RSA, EC on P-256, or Ed25519.
  enum class Type { kRsa, kEc256, kEd25519 } type;
  // The OpenSSL public key (freed with EVP_PKEY_free).
  std::shared_ptr<EVP_PKEY> key;
};

// The usable keys of a JWKS document.
class Jwks {
 public:
  // Largest JWKS file ReadFile() reads.
  static constexpr size_t kMaxFileBytes = 1 << 20;
  // Smallest and largest RSA modulus accepted, in bits.
  static constexpr int kMinRsaBits = 2048;
  static constexpr int kMaxRsaBits = 16384;

  // Parses a JWKS document: {"keys":[...]}. INVALID_ARGUMENT when the JSON
  // is malformed, when a key that would be kept is malformed (the message
  // names the key, by index and kid, and the member), or when no usable key
  // is left.
  static absl::StatusOr<std::shared_ptr<const Jwks>> Parse(absl::string_view json);

  // Reads and parses the file at `path`: NOT_FOUND when it does not exist,
  // INVALID_ARGUMENT when it cannot be read, is larger than kMaxFileBytes
  // or does not parse. The message names the path.
  static absl::StatusOr<std::shared_ptr<const Jwks>> ReadFile(const std::string& path);

  // The usable keys, in document order; never empty.
  const std::vector<JwksKey>& keys() const { return keys_; }

 private:
  explicit Jwks(std::vector<JwksKey> keys) : keys_(std::move(keys)) {}

  std::vector<JwksKey> keys_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_AUTH_JWKS_H_
