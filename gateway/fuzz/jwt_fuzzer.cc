// Fuzzes bearer tokens (auth/jwt.h): VerifyJwt and the JwtVerifier's cache
// on arbitrary bytes, and on tokens assembled from arbitrary header and
// payload JSON (so that the base64url layer does not hide the JSON and
// claim checks), against a fixed JWKS of an EC P-256 and an Ed25519 key.
//
// Properties: whatever the input, verification ends with OK or
// UNAUTHENTICATED; an accepted token names a principal and expires after
// the clock (less the skew); the verifier (cached) agrees with VerifyJwt,
// and a second Verify of the same token gives the same answer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auth/base64url.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "fuzz_check.h"

namespace polymesh::gateway {
namespace {

// Public keys whose private halves signed the seed tokens of corpus/jwt
// once (the private halves are not kept: the seeds are data).
constexpr absl::string_view kJwks = R"({"keys":[
  {"kty":"EC","crv":"P-256","kid":"ec-1","alg":"ES256","use":"sig",
   "x":"LI2JKHkQfIZflRadnLuA3WYyp02fmZZxNh43MOPXUVo",
   "y":"0_EGGyVWuShf2tr-D_POtQdCEeESYxTS_a3hwDTDeLY"},
  {"kty":"OKP","crv":"Ed25519","kid":"ed-1","alg":"EdDSA",
   "x":"v3FcF0RjYIJngtx4awb1lqpmAEVEIbqEpchfp0EJimQ"}]})";

// The clock of every check: the seeds' tokens are valid then.
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

const Jwks& Keys() {
  static const std::shared_ptr<const Jwks> keys = [] {
    absl::StatusOr<std::shared_ptr<const Jwks>> parsed = Jwks::Parse(kJwks);
    FUZZ_CHECK(parsed.ok()) << parsed.status();
    return *parsed;
  }();
  return *keys;
}

JwtRules Rules() {
  JwtRules rules;
  rules.issuer = "https://issuer.polymesh.test";
  rules.audiences = {"polymesh"};
  rules.groups_claim = "scope";
  return rules;
}

void Check(absl::string_view token) {
  const JwtRules rules = Rules();
  const absl::StatusOr<JwtIdentity> identity = VerifyJwt(token, Keys(), rules, kNow);
  if (identity.ok()) {
    FUZZ_CHECK(!identity->principal.empty()) << "an accepted token without a principal";
    FUZZ_CHECK(identity->expires > kNow - rules.clock_skew) << "an expired token accepted";
  } else {
    FUZZ_CHECK(absl::IsUnauthenticated(identity.status())) << identity.status();
  }
  static JwtVerifier* const verifier = new JwtVerifier(
      std::shared_ptr<const Jwks>(std::shared_ptr<const Jwks>{}, &Keys()), Rules(), 64);
  for (int i = 0; i < 2; ++i) {
    const absl::StatusOr<std::shared_ptr<const JwtIdentity>> cached = verifier->Verify(token, kNow);
    FUZZ_CHECK(cached.ok() == identity.ok())
        << "the verifier and VerifyJwt disagree: " << cached.status() << " vs "
        << identity.status();
    if (cached.ok()) FUZZ_CHECK((*cached)->principal == identity->principal);
  }
}

}  // namespace
}  // namespace polymesh::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  Check(input);
  // The same bytes as header JSON, payload JSON and signature, split at the
  // first two newlines, each base64url-encoded as an issuer would.
  const size_t first = input.find('\n');
  if (first == absl::string_view::npos) return 0;
  const size_t second = input.find('\n', first + 1);
  if (second == absl::string_view::npos) return 0;
  Check(absl::StrCat(Base64UrlEncode(input.substr(0, first)), ".",
                     Base64UrlEncode(input.substr(first + 1, second - first - 1)), ".",
                     Base64UrlEncode(input.substr(second + 1))));
  return 0;
}
