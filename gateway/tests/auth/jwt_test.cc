#include "auth/jwt.h"

#include <openssl/hmac.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "auth/base64url.h"
#include "auth/jwks.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_keys.h"

namespace polymesh::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Le;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
constexpr char kIssuer[] = "https://issuer.example";

const TestKey& Rsa() { return TestKey::Shared(JwksKey::Type::kRsa); }
const TestKey& Ec() { return TestKey::Shared(JwksKey::Type::kEc256); }
const TestKey& Ed() { return TestKey::Shared(JwksKey::Type::kEd25519); }

int64_t At(absl::Duration from_now) { return absl::ToUnixSeconds(kNow + from_now); }

// Claims that the default rules accept, with `extra` members appended.
std::string Claims(absl::string_view extra = "", absl::Duration exp = absl::Minutes(5)) {
  return absl::StrCat(R"({"iss":"https://issuer.example","aud":"polymesh","sub":"alice","exp":)",
                      At(exp), extra, "}");
}

JwtRules Rules() {
  JwtRules rules;
  rules.issuer = kIssuer;
  rules.audiences = {"other", "polymesh"};
  return rules;
}

class JwtTest : public ::testing::Test {
 protected:
  JwtTest()
      : jwks_(*Jwks::Parse(JwksJson({Rsa().PublicJwk("rsa", "RS256"), Ec().PublicJwk("ec"),
                                     Ed().PublicJwk("ed", "EdDSA")}))) {}

  absl::StatusOr<JwtIdentity> Verify(absl::string_view token, const JwtRules& rules = Rules(),
                                     absl::Time now = kNow) const {
    return VerifyJwt(token, *jwks_, rules, now);
  }

  // The UNAUTHENTICATED message `token` is refused with ("" if accepted or
  // refused with another code).
  std::string Refusal(absl::string_view token, const JwtRules& rules = Rules(),
                      absl::Time now = kNow) const {
    const absl::Status status = Verify(token, rules, now).status();
    if (status.code() != absl::StatusCode::kUnauthenticated) return "";
    return std::string(status.message());
  }

  std::shared_ptr<const Jwks> jwks_;
};

TEST_F(JwtTest, AcceptsEachAlgorithm) {
  struct Case {
    const char* header;
    const TestKey& key;
  };
  const Case cases[] = {
      {R"({"alg":"RS256","typ":"JWT","kid":"rsa"})", Rsa()},
      {R"({"alg":"ES256","typ":"JWT","kid":"ec"})", Ec()},
      {R"({"alg":"EdDSA","typ":"JWT","kid":"ed"})", Ed()},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JwtIdentity> identity = Verify(SignJwt(c.header, Claims(), c.key));
    ASSERT_TRUE(identity.ok()) << c.header << ": " << identity.status();
    EXPECT_EQ(identity->principal, "alice");
    EXPECT_THAT(identity->groups, IsEmpty());
    EXPECT_EQ(identity->expires, kNow + absl::Minutes(5));
  }
}

TEST_F(JwtTest, WithoutKidTriesTheKeysOfTheAlgorithm) {
  for (const auto& [alg, key] : {std::pair<const char*, const TestKey*>{"RS256", &Rsa()},
                                 {"ES256", &Ec()},
                                 {"EdDSA", &Ed()}}) {
    const std::string header = absl::StrCat(R"({"alg":")", alg, R"("})");
    EXPECT_TRUE(Verify(SignJwt(header, Claims(), *key)).ok()) << alg;
  }
}

TEST_F(JwtTest, AcceptsTheAccessTokenTyp) {
  EXPECT_TRUE(Verify(SignJwt(R"({"alg":"EdDSA","typ":"at+jwt"})", Claims(), Ed())).ok());
  EXPECT_TRUE(Verify(SignJwt(R"({"alg":"EdDSA","typ":"jwt"})", Claims(), Ed())).ok());
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA","typ":"JOSE"})", Claims(), Ed())),
            "unsupported typ");
}

TEST_F(JwtTest, RefusesABadSignature) {
  for (const JwksKey::Type type :
       {JwksKey::Type::kRsa, JwksKey::Type::kEc256, JwksKey::Type::kEd25519}) {
    const TestKey other = TestKey::Generate(type);
    const char* header = type == JwksKey::Type::kRsa     ? R"({"alg":"RS256"})"
                         : type == JwksKey::Type::kEc256 ? R"({"alg":"ES256"})"
                                                         : R"({"alg":"EdDSA"})";
    EXPECT_EQ(Refusal(SignJwt(header, Claims(), other)), "bad signature") << header;
  }
}

TEST_F(JwtTest, RefusesATamperedPayload) {
  for (const auto& [header, key] :
       {std::pair<const char*, const TestKey*>{R"({"alg":"RS256"})", &Rsa()},
        {R"({"alg":"ES256"})", &Ec()},
        {R"({"alg":"EdDSA"})", &Ed()}}) {
    const std::string token = SignJwt(header, Claims(), *key);
    std::vector<std::string> segments = absl::StrSplit(token, '.');
    segments[1] = Base64UrlEncode(absl::StrReplaceAll(Claims(), {{"alice", "admin"}}));
    EXPECT_EQ(Refusal(absl::StrJoin(segments, ".")), "bad signature") << header;
  }
}

TEST_F(JwtTest, RefusesAnEs256SignatureThatIsNotRawRAndS) {
  const std::string input = JwsSigningInput(R"({"alg":"ES256"})", Claims());
  const std::string raw = Ec().Sign(input);
  EXPECT_EQ(Refusal(JwtWithSignature(R"({"alg":"ES256"})", Claims(), raw.substr(0, 63))),
            "bad signature");
  const std::string longer = raw + std::string(1, '\0');
  EXPECT_EQ(Refusal(JwtWithSignature(R"({"alg":"ES256"})", Claims(), longer)), "bad signature");
  EXPECT_EQ(Refusal(JwtWithSignature(R"({"alg":"ES256"})", Claims(), std::string(64, '\0'))),
            "bad signature");
}

TEST_F(JwtTest, RefusesAnExpiredToken) {
  const std::string header = R"({"alg":"EdDSA"})";
  EXPECT_EQ(Refusal(SignJwt(header, Claims("", -absl::Seconds(31)), Ed())), "token expired");
  // Within the clock skew (30s) the token is still good.
  EXPECT_TRUE(Verify(SignJwt(header, Claims("", -absl::Seconds(29)), Ed())).ok());
  JwtRules strict = Rules();
  strict.clock_skew = absl::ZeroDuration();
  EXPECT_EQ(Refusal(SignJwt(header, Claims("", absl::ZeroDuration()), Ed()), strict),
            "token expired");
  EXPECT_TRUE(Verify(SignJwt(header, Claims("", absl::Seconds(1)), Ed()), strict).ok());
}

TEST_F(JwtTest, RefusesATokenNotYetValid) {
  const std::string header = R"({"alg":"EdDSA"})";
  EXPECT_EQ(Refusal(SignJwt(header, Claims(absl::StrCat(R"(,"nbf":)", At(absl::Seconds(31)))),
                            Ed())),
            "token not yet valid");
  EXPECT_TRUE(
      Verify(SignJwt(header, Claims(absl::StrCat(R"(,"nbf":)", At(absl::Seconds(29)))), Ed()))
          .ok());
  EXPECT_TRUE(Verify(SignJwt(header,
                             Claims(absl::StrCat(R"(,"nbf":)", At(-absl::Minutes(1)),
                                                 R"(,"iat":)", At(-absl::Minutes(1)))),
                             Ed()))
                  .ok());
}

TEST_F(JwtTest, RefusesMissingOrMalformedTimes) {
  const std::string header = R"({"alg":"EdDSA"})";
  const std::string claims = R"({"iss":"https://issuer.example","aud":"polymesh","sub":"a")";
  EXPECT_EQ(Refusal(SignJwt(header, claims + "}", Ed())), "token has no \"exp\"");
  EXPECT_EQ(Refusal(SignJwt(header, claims + R"(,"exp":"soon"})", Ed())),
            "malformed \"exp\" claim");
  EXPECT_EQ(Refusal(SignJwt(header, Claims(R"(,"nbf":"now")"), Ed())), "malformed \"nbf\" claim");
}

TEST_F(JwtTest, RefusesTheWrongIssuer) {
  const std::string header = R"({"alg":"EdDSA"})";
  JwtRules rules = Rules();
  rules.issuer = "https://another.example";
  EXPECT_EQ(Refusal(SignJwt(header, Claims(), Ed()), rules), "wrong issuer");
  EXPECT_EQ(Refusal(SignJwt(header, absl::StrCat(R"({"aud":"polymesh","sub":"a","exp":)",
                                                 At(absl::Minutes(1)), "}"),
                            Ed())),
            "wrong issuer");
}

TEST_F(JwtTest, ChecksTheAudience) {
  const std::string header = R"({"alg":"EdDSA"})";
  JwtRules rules = Rules();
  rules.audiences = {"billing"};
  EXPECT_EQ(Refusal(SignJwt(header, Claims(), Ed()), rules), "no accepted audience");
  const auto with_aud = [](absl::string_view aud) {
    return absl::StrCat(R"({"iss":"https://issuer.example","sub":"a","exp":)",
                        At(absl::Minutes(1)), aud, "}");
  };
  EXPECT_TRUE(Verify(SignJwt(header, with_aud(R"(,"aud":["a","billing"])"), Ed()), rules).ok());
  EXPECT_EQ(Refusal(SignJwt(header, with_aud(R"(,"aud":["a","b"])"), Ed()), rules),
            "no accepted audience");
  EXPECT_EQ(Refusal(SignJwt(header, with_aud(R"(,"aud":[])"), Ed()), rules),
            "no accepted audience");
  EXPECT_EQ(Refusal(SignJwt(header, with_aud(""), Ed()), rules), "no accepted audience");
  EXPECT_EQ(Refusal(SignJwt(header, with_aud(R"(,"aud":7)"), Ed()), rules),
            "no accepted audience");
}

TEST_F(JwtTest, RefusesAlgNone) {
  EXPECT_EQ(Refusal(JwtWithSignature(R"({"alg":"none"})", Claims(), "")),
            "unsupported alg \"none\"");
  EXPECT_EQ(Refusal(JwtWithSignature(R"({"alg":"none","kid":"rsa"})", Claims(), "x")),
            "unsupported alg \"none\"");
}

TEST_F(JwtTest, RefusesOtherAlgorithms) {
  for (const char* alg : {"HS256", "HS512", "PS256", "RS512", "ES384", "Ed25519", "rs256"}) {
    const std::string header = absl::StrCat(R"({"alg":")", alg, R"("})");
    EXPECT_EQ(Refusal(JwtWithSignature(header, Claims(), "signature")),
              absl::StrCat("unsupported alg \"", alg, "\""));
  }
  EXPECT_EQ(Refusal(JwtWithSignature(R"({"typ":"JWT"})", Claims(), "signature")),
            "malformed token header");
  EXPECT_EQ(Refusal(JwtWithSignature(R"({"alg":256})", Claims(), "signature")),
            "malformed token header");
}

TEST_F(JwtTest, RefusesHs256WithThePublicKeyAsSecret) {
  // The classic algorithm confusion: a token MACed with the RSA public key,
  // which a verifier trusting the header's alg would check with that key.
  const std::string header = R"({"alg":"HS256","typ":"JWT","kid":"rsa"})";
  const std::string input = JwsSigningInput(header, Claims());
  const std::string secret = Rsa().PublicPem();
  unsigned char mac[32];
  unsigned int mac_size = 0;
  ASSERT_NE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                 &mac_size),
            nullptr);
  const std::string token = JwtWithSignature(
      header, Claims(), std::string(reinterpret_cast<const char*>(mac), mac_size));
  EXPECT_EQ(Refusal(token), "unsupported alg \"HS256\"");
}

TEST_F(JwtTest, RefusesAnAlgorithmThatIsNotTheKeys) {
  // RS256 naming the EC key, signed by it: no RSA key has that kid.
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"RS256","kid":"ec"})", Claims(), Ec())),
            "no key for alg RS256");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA","kid":"rsa"})", Claims(), Ed())),
            "no key for alg EdDSA");
  // Without kid: a set with no RSA key refuses RS256, whatever the signature.
  const std::shared_ptr<const Jwks> ec_only =
      *Jwks::Parse(JwksJson({Ec().PublicJwk("ec", "ES256")}));
  EXPECT_EQ(VerifyJwt(SignJwt(R"({"alg":"RS256"})", Claims(), Rsa()), *ec_only, Rules(), kNow)
                .status()
                .message(),
            "no key for alg RS256");
}

TEST_F(JwtTest, RefusesAnUnknownKid) {
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"ES256","kid":"retired"})", Claims(), Ec())),
            "unknown kid");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"ES256","kid":7})", Claims(), Ec())),
            "malformed token header");
}

TEST_F(JwtTest, RefusesCrit) {
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA","crit":["exp"],"exp":1})", Claims(), Ed())),
            "unsupported header \"crit\"");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA","b64":false,"crit":["b64"]})", Claims(), Ed())),
            "unsupported header \"crit\"");
}

TEST_F(JwtTest, RefusesMalformedTokens) {
  const std::string good = SignJwt(R"({"alg":"EdDSA"})", Claims(), Ed());
  const std::vector<std::string> segments = absl::StrSplit(good, '.');
  const std::string header = segments[0];
  const std::string payload = segments[1];
  const std::string signature = segments[2];
  for (const std::string& token : {
           std::string(),
           std::string("."),
           absl::StrCat(header, ".", payload),
           absl::StrCat(header, ".", payload, ".", signature, "."),
           absl::StrCat(header, "=.", payload, ".", signature),
           absl::StrCat(header, ".", payload, "==.", signature),
           absl::StrCat(header, ".", payload, ".", signature, "="),
           absl::StrCat(header, ".", payload, ".", signature.substr(1)),
           absl::StrCat(header, ".", payload.substr(0, payload.size() - 1), "+.", signature),
           absl::StrCat(" ", good),
       }) {
    EXPECT_EQ(Refusal(token), "malformed token") << token;
  }
  EXPECT_EQ(Refusal(".."), "malformed token header");
  for (const char* not_json : {"", "{", "[]", "\"alg\"", "{\"alg\":\"EdDSA\""}) {
    EXPECT_EQ(Refusal(JwtWithSignature(not_json, Claims(), "signature")),
              "malformed token header")
        << not_json;
  }
  // A payload that is not JSON, signed: refused once the signature is good.
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA"})", "{\"sub\":", Ed())), "malformed token payload");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA"})", "[1]", Ed())), "malformed token payload");
}

TEST_F(JwtTest, RefusesAnOversizeTokenBeforeAnyWork) {
  const std::string padding(kMaxJwtBytes, 'a');
  const std::string large =
      SignJwt(R"({"alg":"EdDSA"})", Claims(absl::StrCat(R"(,"pad":")", padding, "\"")), Ed());
  EXPECT_EQ(Refusal(large), "token too long");
  EXPECT_EQ(Refusal(std::string(kMaxJwtBytes + 1, '.')), "token too long");
  // Up to the bound, size alone is no reason.
  const std::string fits = SignJwt(
      R"({"alg":"EdDSA"})", Claims(absl::StrCat(R"(,"pad":")", std::string(5000, 'a'), "\"")),
      Ed());
  ASSERT_LE(fits.size(), kMaxJwtBytes);
  EXPECT_TRUE(Verify(fits).ok());
}

TEST_F(JwtTest, ReadsGroupsAsAnArrayOrASpaceSeparatedString) {
  JwtRules rules = Rules();
  rules.groups_claim = "groups";
  absl::StatusOr<JwtIdentity> identity =
      Verify(SignJwt(R"({"alg":"EdDSA"})", Claims(R"(,"groups":["ops","billing"])"), Ed()), rules);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_THAT(identity->groups, ElementsAre("ops", "billing"));

  rules.groups_claim = "scope";
  identity = Verify(SignJwt(R"({"alg":"EdDSA"})", Claims(R"(,"scope":" read  write ")"), Ed()),
                    rules);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_THAT(identity->groups, ElementsAre("read", "write"));

  // Absent: no groups. Not strings: refused.
  identity = Verify(SignJwt(R"({"alg":"EdDSA"})", Claims(), Ed()), rules);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_THAT(identity->groups, IsEmpty());
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA"})", Claims(R"(,"scope":["a",1])"), Ed()), rules),
            "malformed \"scope\" claim");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA"})", Claims(R"(,"scope":{})"), Ed()), rules),
            "malformed \"scope\" claim");
}

TEST_F(JwtTest, TakesThePrincipalFromItsClaim) {
  JwtRules rules = Rules();
  rules.principal_claim = "email";
  absl::StatusOr<JwtIdentity> identity = Verify(
      SignJwt(R"({"alg":"EdDSA"})", Claims(R"(,"email":"alice@example.com")"), Ed()), rules);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->principal, "alice@example.com");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA"})", Claims(), Ed()), rules),
            "missing principal claim \"email\"");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA"})", Claims(R"(,"email":"")"), Ed()), rules),
            "missing principal claim \"email\"");
  EXPECT_EQ(Refusal(SignJwt(R"({"alg":"EdDSA"})", Claims(R"(,"email":1)"), Ed()), rules),
            "missing principal claim \"email\"");
}

class JwtVerifierTest : public JwtTest {};

TEST_F(JwtVerifierTest, ReturnsTheCachedIdentityForTheSameToken) {
  JwtVerifier verifier(jwks_, Rules());
  const std::string token = SignJwt(R"({"alg":"ES256"})", Claims(), Ec());
  absl::StatusOr<std::shared_ptr<const JwtIdentity>> first = verifier.Verify(token, kNow);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(verifier.cached_count(), 1u);
  absl::StatusOr<std::shared_ptr<const JwtIdentity>> second =
      verifier.Verify(token, kNow + absl::Seconds(1));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ((*second)->principal, "alice");
}

TEST_F(JwtVerifierTest, RefusesACachedTokenOnceItExpires) {
  JwtVerifier verifier(jwks_, Rules());
  const std::string token = SignJwt(R"({"alg":"EdDSA"})", Claims(), Ed());
  ASSERT_TRUE(verifier.Verify(token, kNow).ok());
  ASSERT_EQ(verifier.cached_count(), 1u);
  EXPECT_TRUE(verifier.Verify(token, kNow + absl::Minutes(5) + absl::Seconds(29)).ok());
  const absl::Status status =
      verifier.Verify(token, kNow + absl::Minutes(5) + absl::Seconds(30)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "token expired");
}

TEST_F(JwtVerifierTest, ChecksACachedTokensNotBefore) {
  JwtVerifier verifier(jwks_, Rules());
  const std::string token = SignJwt(
      R"({"alg":"EdDSA"})", Claims(absl::StrCat(R"(,"nbf":)", At(absl::ZeroDuration()))), Ed());
  ASSERT_TRUE(verifier.Verify(token, kNow).ok());
  EXPECT_EQ(verifier.Verify(token, kNow - absl::Minutes(1)).status().message(),
            "token not yet valid");
}

TEST_F(JwtVerifierTest, DoesNotCacheFailedTokens) {
  JwtVerifier verifier(jwks_, Rules());
  const std::string forged = SignJwt(R"({"alg":"EdDSA"})", Claims(),
                                     TestKey::Generate(JwksKey::Type::kEd25519));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(verifier.Verify(forged, kNow).status().message(), "bad signature");
  }
  EXPECT_EQ(verifier.Verify(std::string(kMaxJwtBytes + 1, 'a'), kNow).status().message(),
            "token too long");
  EXPECT_EQ(verifier.cached_count(), 0u);
}

TEST_F(JwtVerifierTest, KeepsTheCacheBounded) {
  constexpr size_t kMaxCached = 64;
  JwtVerifier verifier(jwks_, Rules(), kMaxCached);
  for (int i = 0; i < 1000; ++i) {
    const std::string token =
        SignJwt(R"({"alg":"EdDSA"})", Claims(absl::StrCat(R"(,"jti":")", i, "\"")), Ed());
    ASSERT_TRUE(verifier.Verify(token, kNow).ok()) << i;
    ASSERT_THAT(verifier.cached_count(), Le(kMaxCached)) << i;
  }
  EXPECT_GT(verifier.cached_count(), kMaxCached / 2);
}

TEST_F(JwtVerifierTest, EvictsExpiredIdentitiesFirst) {
  // Fill the cache (16 identities per shard) with tokens that expire soon,
  // then add a few long-lived ones once those have expired: the expired make
  // room, so none of the long-lived ones is dropped.
  constexpr size_t kMaxCached = 256;
  JwtVerifier verifier(jwks_, Rules(), kMaxCached);
  for (int i = 0; i < 400; ++i) {
    const std::string token = SignJwt(
        R"({"alg":"EdDSA"})",
        Claims(absl::StrCat(R"(,"jti":"short)", i, "\""), absl::Seconds(10)), Ed());
    ASSERT_TRUE(verifier.Verify(token, kNow).ok());
  }
  std::vector<std::string> long_lived;
  for (int i = 0; i < 32; ++i) {
    long_lived.push_back(SignJwt(R"({"alg":"EdDSA"})",
                                 Claims(absl::StrCat(R"(,"jti":"long)", i, "\""), absl::Hours(1)),
                                 Ed()));
  }
  const absl::Time later = kNow + absl::Minutes(1);
  std::vector<std::shared_ptr<const JwtIdentity>> first;
  for (const std::string& token : long_lived) first.push_back(*verifier.Verify(token, later));
  // Every long-lived identity is still there: only expired ones made room.
  for (size_t i = 0; i < long_lived.size(); ++i) {
    EXPECT_EQ(verifier.Verify(long_lived[i], later)->get(), first[i].get()) << i;
  }
}

TEST_F(JwtVerifierTest, WithoutACacheVerifiesEveryTime) {
  JwtVerifier verifier(jwks_, Rules(), 0);
  const std::string token = SignJwt(R"({"alg":"EdDSA"})", Claims(), Ed());
  absl::StatusOr<std::shared_ptr<const JwtIdentity>> first = verifier.Verify(token, kNow);
  absl::StatusOr<std::shared_ptr<const JwtIdentity>> second = verifier.Verify(token, kNow);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->get(), second->get());
  EXPECT_EQ((*second)->principal, "alice");
  EXPECT_EQ(verifier.cached_count(), 0u);
}

TEST_F(JwtVerifierTest, IsSafeToShareBetweenThreads) {
  JwtVerifier verifier(jwks_, Rules(), 64);
  std::vector<std::string> tokens;
  for (int i = 0; i < 32; ++i) {
    tokens.push_back(
        SignJwt(R"({"alg":"EdDSA"})", Claims(absl::StrCat(R"(,"jti":")", i, "\"")), Ed()));
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&verifier, &tokens, &failures] {
      for (int round = 0; round < 20; ++round) {
        for (const std::string& token : tokens) {
          if (!verifier.Verify(token, kNow).ok()) failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(verifier.cached_count(), 64u);
}

}  // namespace
}  // namespace polymesh::gateway
