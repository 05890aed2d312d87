// JSON Web Tokens (RFC 7519) as bearer credentials: a compact JWS (RFC 7515)
// signed with RS256, ES256 or EdDSA (Ed25519) by a key of a JWKS, and the
// identity it asserts.
//
// VerifyJwt() checks one token: its size, its header (the algorithm, which
// must match the key's type and the key's own "alg"; no "crit"; "typ" JWT or
// at+jwt), its signature, then its claims ("exp" required, "nbf", "iss",
// "aud"). Every failure is UNAUTHENTICATED with a short reason, fit for a
// client to read. JwtVerifier adds a cache of the identities of verified
// tokens, so that a client that sends the same token on every call pays for
// one signature check, not one per call.
//
// Usage:
//
//   JwtRules rules;
//   rules.issuer = "https://issuer.example";
//   rules.audiences = {"polymesh"};
//   rules.groups_claim = "scope";
//   JwtVerifier verifier(*Jwks::ReadFile("/etc/polymesh/issuer-jwks.json"), rules);
//   absl::StatusOr<std::shared_ptr<const JwtIdentity>> identity =
//       verifier.Verify(bearer_token, absl::Now());
//   if (!identity.ok()) return identity.status();   // UNAUTHENTICATED: "token expired"
//   Admit((*identity)->principal, (*identity)->groups);
#ifndef POLYMESH_GATEWAY_SRC_AUTH_JWT_H_
#define POLYMESH_GATEWAY_SRC_AUTH_JWT_H_

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/jwks.h"
#include "auth/sha256.h"

namespace polymesh::gateway {

// Longest token accepted, in bytes; a longer one is refused before any work.
inline constexpr size_t kMaxJwtBytes = 8192;

// What a token must claim to be accepted.
struct JwtRules {
  // The "iss" a token must carry, exactly.
  std::string issuer;
  // Audiences accepted: the token's "aud" (a string or an array of strings)
  // must hold at least one. None accepts no token.
  std::vector<std::string> audiences;
  // The claim whose string value (not empty) is the principal.
  std::string principal_claim = "sub";
  // A claim with the caller's groups: an array of strings, or one string of
  // space-separated names (as OAuth's "scope"). Empty: no groups.
  std::string groups_claim;
  // Leeway for "exp" and "nbf" against the clock.
  absl::Duration clock_skew = absl::Seconds(30);
};

// Who a verified token says the caller is.
struct JwtIdentity {
  // The value of the principal claim.
  std::string principal;
  // The groups claim's names, in the token's order (empty without one).
  std::vector<std::string> groups;
  // The token's "exp".
  absl::Time expires;
};

// Verifies the compact JWS `token` (header.payload.signature) with `keys`
// and `rules` at time `now`. Every failure is UNAUTHENTICATED with a short
// message saying why: "token too long", "malformed token", "unsupported alg
// \"none\"", "unknown kid", "bad signature", "token expired", "token not yet
// valid", "wrong issuer", "no accepted audience", ...
absl::StatusOr<JwtIdentity> VerifyJwt(absl::string_view token, const Jwks& keys,
                                      const JwtRules& rules, absl::Time now);

// Verifies tokens and keeps the identities of verified ones, keyed by the
// token's SHA-256, until their "exp": a token seen again costs a hash and a
// lookup. Failed tokens are not kept. The cache is bounded and sharded (one
// lock per shard); when a shard is full, its expired identities go, and if
// that is not enough, arbitrary ones, so that an insert costs O(1) amortized.
// Thread-safe.
class JwtVerifier {
 public:
  // `max_cached` bounds the identities kept, in all (0: no cache). It is
  // split evenly between the shards, each keeping at least one.
  JwtVerifier(std::shared_ptr<const Jwks> keys, JwtRules rules, size_t max_cached = 16384);

  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // VerifyJwt() of `token`, or the identity kept from an earlier call
  // (the same pointer), checked again against `now`.
  absl::StatusOr<std::shared_ptr<const JwtIdentity>> Verify(absl::string_view token,
                                                            absl::Time now) const;

  // The identities kept now.
  size_t cached_count() const;

 private:
  static constexpr size_t kShards = 16;

  struct Entry {
    std::shared_ptr<const JwtIdentity> identity;
    // The token's "nbf", or InfinitePast().
    absl::Time not_before;
  };

  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<Sha256Digest, Entry> entries ABSL_GUARDED_BY(mu);
  };

  // Keeps `entry` under `digest` in `shard`; returns the identity kept there
  // (another thread's, if it was first).
  std::shared_ptr<const JwtIdentity> Insert(Shard& shard, const Sha256Digest& digest,
                                            Entry entry, absl::Time now) const;

  const std::shared_ptr<const Jwks> keys_;
  const JwtRules rules_;
  const size_t shard_capacity_;  // 0: no cache
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_AUTH_JWT_H_
