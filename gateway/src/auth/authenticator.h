// Who a caller is, and whether a route admits them.
//
// AuthProviders holds what one configuration generation checks credentials
// with (the API keys, the JWT verifier, whether client certificates name
// principals); RouteAccess is one route's rule over them. A call's
// credentials are tried in a fixed order, the first one present deciding:
// an API key, then a bearer token, then the client certificate. A
// credential that is present but fails is UNAUTHENTICATED (never a
// fallback to the next); no credential is UNAUTHENTICATED unless the route
// allows anonymous callers; a principal the route does not list, in none of
// the groups it lists, is PERMISSION_DENIED.
//
// Usage:
//
//   auto providers = std::make_shared<const AuthProviders>(AuthProviders::Options{
//       .api_keys = *ApiKeys::ReadFile("keys.yaml")});
//   RouteAccess access(providers, {.groups = {"ai-users"}});
//   absl::StatusOr<Identity> who =
//       access.Check({.api_key = request_api_key}, absl::Now(), "ai");
//   if (!who.ok()) { /* answer with who.status() */ }
#ifndef POLYMESH_GATEWAY_SRC_AUTH_AUTHENTICATOR_H_
#define POLYMESH_GATEWAY_SRC_AUTH_AUTHENTICATOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "auth/api_keys.h"
#include "auth/jwt.h"

namespace polymesh::gateway {

// The request header in which the gateway tells backends who called: set
// on the calls of routes with an access rule (for a caller that is not
// anonymous), and removed from every incoming call, so that a backend
// behind the gateway may trust it.
inline constexpr absl::string_view kPrincipalHeader = "x-polymesh-principal";

// The kinds of credential, as bits of a set.
enum AuthProvider : uint8_t {
  kApiKeyProvider = 1,
  kJwtProvider = 2,
  kMtlsProvider = 4,
};
inline constexpr uint8_t kAllProviders = kApiKeyProvider | kJwtProvider | kMtlsProvider;

// The provider named `name` ("api_keys", "jwt", "mtls"), or nullopt.
std::optional<AuthProvider> AuthProviderNamed(absl::string_view name);

// The credentials a call carries; absent ones are nullopt or empty.
struct Credentials {
  // The value of the API key header.
  std::optional<absl::string_view> api_key;
  // The value of the `authorization` header.
  std::optional<absl::string_view> authorization;
  // The principal of the connection's verified client certificate.
  absl::string_view peer_principal;
};

// Who an admitted caller is. Its views point into the AuthProviders, the
// Credentials' connection, or `holder`: it lives no longer than those.
struct Identity {
  // The principal; empty for an anonymous caller.
  absl::string_view principal;
  // Its groups.
  absl::Span<const std::string> groups;
  // The provider that named it; 0 for an anonymous caller.
  AuthProvider provider = static_cast<AuthProvider>(0);
  // Keeps a verified token's identity alive.
  std::shared_ptr<const JwtIdentity> holder;
};

// The credential checkers of one configuration. Immutable; thread-safe.
class AuthProviders {
 public:
  struct Options {
    // API keys; nullptr: none.
    std::shared_ptr<const ApiKeys> api_keys;
    // The header API keys are sent in.
    std::string api_key_header = "x-api-key";
    // Bearer tokens; nullptr: none.
    std::shared_ptr<const JwtVerifier> jwt;
    // Client certificates name principals.
    bool mtls = false;
  };
  explicit AuthProviders(Options options);

  // The configured providers, as AuthProvider bits.
  uint8_t configured() const { return configured_; }
  // The header API keys are sent in.
  const std::string& api_key_header() const { return options_.api_key_header; }

  // The identity the first present credential of `providers` (AuthProvider
  // bits) proves; nullopt when none of them is present; UNAUTHENTICATED
  // when the one present fails.
  absl::StatusOr<std::optional<Identity>> Authenticate(uint8_t providers,
                                                       const Credentials& credentials,
                                                       absl::Time now) const;

 private:
  Options options_;
  uint8_t configured_ = 0;
};

// One route's rule: who may call it.
class RouteAccess {
 public:
  struct Rule {
    // AuthProvider bits; 0: every configured provider.
    uint8_t providers = 0;
    // Principals admitted.
    std::vector<std::string> principals;
    // Groups admitted.
    std::vector<std::string> groups;
    // Callers without a credential are admitted, anonymous.
    bool allow_anonymous = false;
  };
  RouteAccess(std::shared_ptr<const AuthProviders> providers, Rule rule);

  // The identity of an admitted caller; UNAUTHENTICATED or
  // PERMISSION_DENIED with a message naming `route` otherwise.
  absl::StatusOr<Identity> Check(const Credentials& credentials, absl::Time now,
                                 absl::string_view route) const;

  // The providers this route accepts (AuthProvider bits).
  uint8_t providers() const { return providers_; }
  const AuthProviders& auth_providers() const { return *providers_owner_; }

 private:
  bool Admits(const Identity& identity) const;

  std::shared_ptr<const AuthProviders> providers_owner_;
  uint8_t providers_;
  absl::flat_hash_set<std::string> principals_;
  absl::flat_hash_set<std::string> groups_;
  bool allow_anonymous_;
  // What an unauthenticated caller is told to send.
  std::string wanted_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_AUTH_AUTHENTICATOR_H_
