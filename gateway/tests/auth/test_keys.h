// Keys and tokens for the tests and benchmarks of auth/: key pairs made by
// OpenSSL at run time, their public halves as JWKs, and compact JWSs signed
// with them exactly as an issuer signs (RS256, ES256 as raw R || S, EdDSA).
//
// Usage:
//
//   const TestKey& key = TestKey::Shared(JwksKey::Type::kEc256);
//   std::string jwks = JwksJson({key.PublicJwk("k1")});
//   std::string token = SignJwt(R"({"alg":"ES256","kid":"k1"})",
//                               R"({"iss":"i","aud":"a","sub":"s","exp":1700000060})", key);
#ifndef POLYMESH_GATEWAY_TESTS_AUTH_TEST_KEYS_H_
#define POLYMESH_GATEWAY_TESTS_AUTH_TEST_KEYS_H_

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "auth/jwks.h"

namespace polymesh::gateway {

// The members of a JSON object whose values are all strings, in order.
using JsonMembers = std::vector<std::pair<std::string, std::string>>;

// `members` as a JSON object.
std::string JsonObject(const JsonMembers& members);

// {"keys":[...]} of the JWK objects `jwks`.
std::string JwksJson(const std::vector<std::string>& jwks);

// A private key of one of the types a JWKS keeps.
class TestKey {
 public:
  // A new key: RSA of `rsa_bits`, EC on P-256, or Ed25519.
  static TestKey Generate(JwksKey::Type type, int rsa_bits = 2048);
  // One key of `type` (RSA: 2048 bits) made once per process.
  static const TestKey& Shared(JwksKey::Type type);

  JwksKey::Type type() const { return type_; }
  EVP_PKEY* get() const { return key_.get(); }

  // The public JWK's members: kty, crv if any, then n and e, or x (and y),
  // in base64url.
  JsonMembers PublicMembers() const;
  // The public JWK as JSON, with "kid" and "alg" when they are not empty.
  std::string PublicJwk(absl::string_view kid = "", absl::string_view alg = "") const;
  // The public key in PEM (SubjectPublicKeyInfo).
  std::string PublicPem() const;

  // The JWS signature of `input` (for ES256 the raw R || S of RFC 7518).
  std::string Sign(absl::string_view input) const;

 private:
  TestKey(JwksKey::Type type, EVP_PKEY* key) : type_(type), key_(key, EVP_PKEY_free) {}

  JwksKey::Type type_;
  std::shared_ptr<EVP_PKEY> key_;
};

// base64url(header) "." base64url(payload), the signing input.
std::string JwsSigningInput(absl::string_view header_json, absl::string_view payload_json);

// A compact JWS of `header_json` and `payload_json` signed by `key`.
std::string SignJwt(absl::string_view header_json, absl::string_view payload_json,
                    const TestKey& key);

// A compact JWS of `header_json` and `payload_json` with `signature` as it is.
std::string JwtWithSignature(absl::string_view header_json, absl::string_view payload_json,
                             absl::string_view signature);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_TESTS_AUTH_TEST_KEYS_H_
