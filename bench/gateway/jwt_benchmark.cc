// Cost of checking a bearer JWT on a worker thread.
//
// BM_VerifyJwt/<alg>: one full verification (header, signature, claims) of
// a typical access token, as for a token seen for the first time.
// BM_CachedVerify/<alg>: JwtVerifier::Verify of a token it verified before
// (SHA-256 of the token, a shard lookup, the expiry check), what every
// later call with the same token pays. With more than one thread, the
// threads share the verifier, as the workers do.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "benchmark/benchmark.h"
#include "test_keys.h"

namespace polymesh::gateway {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

const char* AlgOf(JwksKey::Type type) {
  switch (type) {
    case JwksKey::Type::kRsa:
      return "RS256";
    case JwksKey::Type::kEc256:
      return "ES256";
    case JwksKey::Type::kEd25519:
      return "EdDSA";
  }
  return "";
}

// A key, its JWKS, rules and a token of the shape identity providers issue.
struct Fixture {
  explicit Fixture(JwksKey::Type type) : key(TestKey::Shared(type)) {
    jwks = *Jwks::Parse(JwksJson({key.PublicJwk("k1", AlgOf(type))}));
    rules.issuer = "https://issuer.example";
    rules.audiences = {"polymesh"};
    rules.groups_claim = "scope";
    token = SignJwt(
        absl::StrCat(R"({"alg":")", AlgOf(type), R"(","typ":"at+jwt","kid":"k1"})"),
        absl::StrCat(R"({"iss":"https://issuer.example","aud":["polymesh","billing"],)",
                     R"("sub":"service-account-7","scope":"predict models.read",)",
                     R"("client_id":"ingest","jti":"4f1c2d","iat":)",
                     absl::ToUnixSeconds(kNow), R"(,"exp":)",
                     absl::ToUnixSeconds(kNow + absl::Hours(1)), "}"),
        key);
  }

  const TestKey& key;
  std::shared_ptr<const Jwks> jwks;
  JwtRules rules;
  std::string token;
};

void BM_VerifyJwt(benchmark::State& state, JwksKey::Type type) {
  const Fixture fixture(type);
  for (auto _ : state) {
    absl::StatusOr<JwtIdentity> identity =
        VerifyJwt(fixture.token, *fixture.jwks, fixture.rules, kNow);
    if (!identity.ok()) state.SkipWithError("token refused");
    benchmark::DoNotOptimize(identity);
  }
}
BENCHMARK_CAPTURE(BM_VerifyJwt, RS256, JwksKey::Type::kRsa);
BENCHMARK_CAPTURE(BM_VerifyJwt, ES256, JwksKey::Type::kEc256);
BENCHMARK_CAPTURE(BM_VerifyJwt, EdDSA, JwksKey::Type::kEd25519);

void BM_CachedVerify(benchmark::State& state, JwksKey::Type type) {
  static const Fixture* fixture = nullptr;
  static JwtVerifier* verifier = nullptr;
  if (state.thread_index() == 0) {
    fixture = new Fixture(type);
    verifier = new JwtVerifier(fixture->jwks, fixture->rules);
    if (!verifier->Verify(fixture->token, kNow).ok()) state.SkipWithError("token refused");
  }
  for (auto _ : state) {
    auto identity = verifier->Verify(fixture->token, kNow);
    benchmark::DoNotOptimize(identity);
  }
  if (state.thread_index() == 0) {
    delete verifier;
    delete fixture;
  }
}
BENCHMARK_CAPTURE(BM_CachedVerify, ES256, JwksKey::Type::kEc256)->ThreadRange(1, 2);

}  // namespace
}  // namespace polymesh::gateway

BENCHMARK_MAIN();
