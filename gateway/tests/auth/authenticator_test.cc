#include "auth/authenticator.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "auth/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_keys.h"

namespace polymesh::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

std::shared_ptr<const AuthProviders> Providers() {
  absl::StatusOr<std::shared_ptr<const ApiKeys>> keys = ApiKeys::Parse(
      absl::StrCat("keys:\n  - name: alice\n    sha256: ", Sha256Hex("alice-key"),
                   "\n    groups: [readers]\n  - name: bob\n    sha256: ", Sha256Hex("bob-key"),
                   "\n"),
      "keys.yaml");
  EXPECT_TRUE(keys.ok()) << keys.status();
  const TestKey& signer = TestKey::Shared(JwksKey::Type::kEc256);
  absl::StatusOr<std::shared_ptr<const Jwks>> jwks =
      Jwks::Parse(JwksJson({signer.PublicJwk("k1")}));
  EXPECT_TRUE(jwks.ok()) << jwks.status();
  JwtRules rules;
  rules.issuer = "https://issuer.test";
  rules.audiences = {"polymesh"};
  rules.groups_claim = "scope";
  return std::make_shared<const AuthProviders>(AuthProviders::Options{
      .api_keys = *keys,
      .api_key_header = "x-api-key",
      .jwt = std::make_shared<const JwtVerifier>(*jwks, rules),
      .mtls = true,
  });
}

std::string Token(absl::string_view subject, absl::string_view scope, int64_t exp) {
  return SignJwt(R"({"alg":"ES256","kid":"k1","typ":"JWT"})",
                 absl::StrCat(R"({"iss":"https://issuer.test","aud":"polymesh","sub":")",
                              subject, R"(","scope":")", scope, R"(","exp":)", exp, "}"),
                 TestKey::Shared(JwksKey::Type::kEc256));
}

TEST(AuthenticatorTest, EachProviderNamesItsPrincipal) {
  RouteAccess access(Providers(), {});
  absl::StatusOr<Identity> key = access.Check({.api_key = "alice-key"}, kNow, "r");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->principal, "alice");
  EXPECT_THAT(key->groups, ElementsAre("readers"));
  EXPECT_EQ(key->provider, kApiKeyProvider);

  const std::string bearer = absl::StrCat("Bearer ", Token("carol", "readers writers",
                                                          absl::ToUnixSeconds(kNow) + 60));
  absl::StatusOr<Identity> jwt = access.Check({.authorization = bearer}, kNow, "r");
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->principal, "carol");
  EXPECT_THAT(jwt->groups, ElementsAre("readers", "writers"));
  EXPECT_EQ(jwt->provider, kJwtProvider);
  ASSERT_NE(jwt->holder, nullptr);

  absl::StatusOr<Identity> peer =
      access.Check({.peer_principal = "spiffe://polymesh.test/svc"}, kNow, "r");
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->principal, "spiffe://polymesh.test/svc");
  EXPECT_EQ(peer->provider, kMtlsProvider);
}

TEST(AuthenticatorTest, TheFirstPresentCredentialDecidesWithoutFallingBack) {
  RouteAccess access(Providers(), {});
  // A bad key is refused even with a good certificate beside it.
  absl::StatusOr<Identity> identity =
      access.Check({.api_key = "wrong", .peer_principal = "spiffe://polymesh.test/svc"}, kNow,
                   "r");
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(), HasSubstr("unknown API key in x-api-key"));
}

TEST(AuthenticatorTest, FailedTokensAreUnauthenticatedWithTheReason) {
  RouteAccess access(Providers(), {});
  const std::string expired =
      absl::StrCat("Bearer ", Token("carol", "", absl::ToUnixSeconds(kNow) - 3600));
  absl::StatusOr<Identity> identity = access.Check({.authorization = expired}, kNow, "r");
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(), HasSubstr("bearer token refused"));
  EXPECT_THAT(identity.status().message(), HasSubstr("expired"));
  identity = access.Check({.authorization = "Basic YWxpY2U6cHc="}, kNow, "r");
  EXPECT_THAT(identity.status().message(), HasSubstr("not a bearer token"));
}

TEST(AuthenticatorTest, RulesAdmitByPrincipalOrGroup) {
  RouteAccess by_group(Providers(), {.groups = {"readers"}});
  EXPECT_TRUE(by_group.Check({.api_key = "alice-key"}, kNow, "r").ok());
  absl::StatusOr<Identity> bob = by_group.Check({.api_key = "bob-key"}, kNow, "reads");
  EXPECT_EQ(bob.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(bob.status().message(), HasSubstr("principal \"bob\" may not call route \"reads\""));

  RouteAccess by_name(Providers(), {.principals = {"bob"}});
  EXPECT_TRUE(by_name.Check({.api_key = "bob-key"}, kNow, "r").ok());
  EXPECT_EQ(by_name.Check({.api_key = "alice-key"}, kNow, "r").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthenticatorTest, NoCredentialIsUnauthenticatedUnlessAnonymousIsAllowed) {
  RouteAccess closed(Providers(), {.providers = kApiKeyProvider | kMtlsProvider});
  absl::StatusOr<Identity> identity = closed.Check({}, kNow, "users");
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(),
              HasSubstr("route \"users\" needs a credential: send an API key in x-api-key, or "
                        "a client certificate"));
  RouteAccess open(Providers(), {.principals = {"nobody"}, .allow_anonymous = true});
  identity = open.Check({}, kNow, "r");
  ASSERT_TRUE(identity.ok());
  EXPECT_TRUE(identity->principal.empty());
}

TEST(AuthenticatorTest, ProvidersTheRouteDoesNotTakeAreNotLookedAt) {
  // Only keys: a certificate alone is no credential here.
  RouteAccess keys_only(Providers(), {.providers = kApiKeyProvider});
  EXPECT_EQ(keys_only.Check({.peer_principal = "spiffe://polymesh.test/svc"}, kNow, "r")
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  // Only certificates: a key header is ignored, the certificate decides.
  RouteAccess mtls_only(Providers(), {.providers = kMtlsProvider});
  absl::StatusOr<Identity> identity =
      mtls_only.Check({.api_key = "wrong", .peer_principal = "spiffe://polymesh.test/svc"},
                      kNow, "r");
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->provider, kMtlsProvider);
}

TEST(AuthenticatorTest, WithoutProvidersNothingButAnonymousIsAdmitted) {
  auto none = std::make_shared<const AuthProviders>(AuthProviders::Options{});
  RouteAccess access(none, {});
  EXPECT_EQ(access.Check({.api_key = "alice-key"}, kNow, "r").status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace polymesh::gateway
