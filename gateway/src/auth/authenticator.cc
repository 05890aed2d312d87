#include "auth/authenticator.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace polymesh::gateway {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

// The token of an `authorization: Bearer <token>` value (the scheme is
// case-insensitive, RFC 9110 §11.1); nullopt for another scheme.
std::optional<absl::string_view> BearerToken(absl::string_view authorization) {
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
    return std::nullopt;
  }
  return absl::StripLeadingAsciiWhitespace(authorization.substr(kBearer.size()));
}

}  // namespace

std::optional<AuthProvider> AuthProviderNamed(absl::string_view name) {
  if (name == "api_keys") return kApiKeyProvider;
  if (name == "jwt") return kJwtProvider;
  if (name == "mtls") return kMtlsProvider;
  return std::nullopt;
}

AuthProviders::AuthProviders(Options options) : options_(std::move(options)) {
  if (options_.api_keys != nullptr) configured_ |= kApiKeyProvider;
  if (options_.jwt != nullptr) configured_ |= kJwtProvider;
  if (options_.mtls) configured_ |= kMtlsProvider;
}

absl::StatusOr<std::optional<Identity>> AuthProviders::Authenticate(
    uint8_t providers, const Credentials& credentials, absl::Time now) const {
  providers &= configured_;
  if ((providers & kApiKeyProvider) != 0 && credentials.api_key.has_value()) {
    const ApiKeyCaller* caller = options_.api_keys->Find(*credentials.api_key);
    if (caller == nullptr) {
      return absl::UnauthenticatedError(
          absl::StrCat("unknown API key in ", options_.api_key_header));
    }
    return Identity{.principal = caller->name,
                    .groups = caller->groups,
                    .provider = kApiKeyProvider,
                    .holder = nullptr};
  }
  if ((providers & kJwtProvider) != 0 && credentials.authorization.has_value()) {
    const std::optional<absl::string_view> token = BearerToken(*credentials.authorization);
    if (!token.has_value()) {
      return absl::UnauthenticatedError(
          "the authorization header is not a bearer token (want \"Bearer <JWT>\")");
    }
    absl::StatusOr<std::shared_ptr<const JwtIdentity>> verified =
        options_.jwt->Verify(*token, now);
    if (!verified.ok()) {
      return absl::UnauthenticatedError(
          absl::StrCat("bearer token refused: ", verified.status().message()));
    }
    const JwtIdentity& identity = **verified;
    return Identity{.principal = identity.principal,
                    .groups = identity.groups,
                    .provider = kJwtProvider,
                    .holder = std::move(*verified)};
  }
  if ((providers & kMtlsProvider) != 0 && !credentials.peer_principal.empty()) {
    return Identity{.principal = credentials.peer_principal,
                    .groups = {},
                    .provider = kMtlsProvider,
                    .holder = nullptr};
  }
  return std::nullopt;
}

RouteAccess::RouteAccess(std::shared_ptr<const AuthProviders> providers, Rule rule)
    : providers_owner_(std::move(providers)),
      providers_((rule.providers == 0 ? kAllProviders : rule.providers) &
                 providers_owner_->configured()),
      principals_(rule.principals.begin(), rule.principals.end()),
      groups_(rule.groups.begin(), rule.groups.end()),
      allow_anonymous_(rule.allow_anonymous) {
  std::vector<std::string> wanted;
  if ((providers_ & kApiKeyProvider) != 0) {
    wanted.push_back(absl::StrCat("an API key in ", providers_owner_->api_key_header()));
  }
  if ((providers_ & kJwtProvider) != 0) {
    wanted.push_back("a bearer token in authorization");
  }
  if ((providers_ & kMtlsProvider) != 0) wanted.push_back("a client certificate");
  wanted_ = absl::StrJoin(wanted, ", or ");
}

absl::StatusOr<Identity> RouteAccess::Check(const Credentials& credentials, absl::Time now,
                                            absl::string_view route) const {
  absl::StatusOr<std::optional<Identity>> identity =
      providers_owner_->Authenticate(providers_, credentials, now);
  if (!identity.ok()) return identity.status();
  if (!identity->has_value()) {
    if (allow_anonymous_) return Identity{};
    return absl::UnauthenticatedError(
        absl::StrCat("route \"", route, "\" needs a credential: send ", wanted_));
  }
  if (!Admits(**identity)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "principal \"", (*identity)->principal, "\" may not call route \"", route, "\""));
  }
  return std::move(**identity);
}

bool RouteAccess::Admits(const Identity& identity) const {
  if (principals_.empty() && groups_.empty()) return true;
  if (principals_.contains(identity.principal)) return true;
  for (const std::string& group : identity.groups) {
    if (groups_.contains(group)) return true;
  }
  return false;
}

}  // namespace polymesh::gateway
