#include "auth/jwks.h"

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "auth/base64url.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_keys.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

const TestKey& Rsa() { return TestKey::Shared(JwksKey::Type::kRsa); }
const TestKey& Ec() { return TestKey::Shared(JwksKey::Type::kEc256); }
const TestKey& Ed() { return TestKey::Shared(JwksKey::Type::kEd25519); }

// `members` with `name`'s value replaced (or added).
JsonMembers With(JsonMembers members, const std::string& name, const std::string& value) {
  for (auto& [member, old] : members) {
    if (member == name) {
      old = value;
      return members;
    }
  }
  members.emplace_back(name, value);
  return members;
}

TEST(JwksTest, ParsesRsaEcAndOkpKeys) {
  absl::StatusOr<std::shared_ptr<const Jwks>> jwks = Jwks::Parse(JwksJson(
      {Rsa().PublicJwk("rsa", "RS256"), Ec().PublicJwk("ec"), Ed().PublicJwk("", "EdDSA")}));
  ASSERT_TRUE(jwks.ok()) << jwks.status();
  const std::vector<JwksKey>& keys = (*jwks)->keys();
  ASSERT_THAT(keys, SizeIs(3));
  EXPECT_EQ(keys[0].type, JwksKey::Type::kRsa);
  EXPECT_EQ(keys[0].kid, "rsa");
  EXPECT_EQ(keys[0].alg, "RS256");
  EXPECT_EQ(keys[1].type, JwksKey::Type::kEc256);
  EXPECT_EQ(keys[1].kid, "ec");
  EXPECT_EQ(keys[1].alg, "");
  EXPECT_EQ(keys[2].type, JwksKey::Type::kEd25519);
  EXPECT_EQ(keys[2].kid, "");
  EXPECT_EQ(keys[2].alg, "EdDSA");
  // The OpenSSL keys are the public halves of the generated ones.
  EXPECT_EQ(EVP_PKEY_eq(keys[0].key.get(), Rsa().get()), 1);
  EXPECT_EQ(EVP_PKEY_eq(keys[1].key.get(), Ec().get()), 1);
  EXPECT_EQ(EVP_PKEY_eq(keys[2].key.get(), Ed().get()), 1);
}

TEST(JwksTest, SkipsKeysItCannotUse) {
  const std::string oct = R"({"kty":"oct","k":"c2VjcmV0","alg":"HS256"})";
  const std::string encryption = JsonObject(With(Ec().PublicMembers(), "use", "enc"));
  const std::string wrap_only =
      R"({"kty":"EC","crv":"P-256","x":"AA","y":"AA","key_ops":["wrapKey"]})";
  const std::string p384 = R"({"kty":"EC","crv":"P-384","x":"AA","y":"AA"})";
  const std::string x25519 = R"({"kty":"OKP","crv":"X25519","x":"AA"})";
  const std::string rs512 = Rsa().PublicJwk("rs512", "RS512");
  absl::StatusOr<std::shared_ptr<const Jwks>> jwks = Jwks::Parse(
      JwksJson({oct, encryption, wrap_only, p384, x25519, rs512, Ed().PublicJwk("ed")}));
  ASSERT_TRUE(jwks.ok()) << jwks.status();
  ASSERT_THAT((*jwks)->keys(), SizeIs(1));
  EXPECT_EQ((*jwks)->keys()[0].kid, "ed");
}

TEST(JwksTest, RefusesASetWithNoUsableKey) {
  const absl::Status status =
      Jwks::Parse(JwksJson({R"({"kty":"oct","k":"c2VjcmV0"})"})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("no usable key"));
  EXPECT_EQ(Jwks::Parse(R"({"keys":[]})").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JwksTest, RefusesMalformedJson) {
  for (const char* json : {"", "{", "{\"keys\":[}", "[]", "\"keys\"", "{\"keys\":[{]}"}) {
    const absl::Status status = Jwks::Parse(json).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(status.message(), HasSubstr("JWKS")) << json;
  }
  EXPECT_THAT(Jwks::Parse("{}").status().message(), HasSubstr("no \"keys\""));
  EXPECT_THAT(Jwks::Parse(R"({"keys":{}})").status().message(), HasSubstr("not an array"));
  EXPECT_THAT(Jwks::Parse(R"({"keys":[1]})").status().message(),
              HasSubstr("key 0 is not an object"));
}

TEST(JwksTest, RefusesAnEcPointOffTheCurve) {
  JsonMembers members = Ec().PublicMembers();
  std::string y = *Base64UrlDecode(members[3].second);
  y[31] = static_cast<char>(y[31] ^ 1);
  const absl::Status status =
      Jwks::Parse(JwksJson({JsonObject(With(With(members, "y", Base64UrlEncode(y)), "kid", "k7"))}))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("key 0 (kid \"k7\")"));
  EXPECT_THAT(status.message(), HasSubstr("not a point on the curve P-256"));
}

TEST(JwksTest, RefusesAnRsaKeyUnder2048Bits) {
  const TestKey small = TestKey::Generate(JwksKey::Type::kRsa, 1024);
  const absl::Status status =
      Jwks::Parse(JwksJson({Ed().PublicJwk("ed"), small.PublicJwk("small")})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("key 1 (kid \"small\")"));
  EXPECT_THAT(status.message(), HasSubstr("1024-bit"));
}

TEST(JwksTest, RefusesMalformedMembersNamingThem) {
  struct Case {
    std::string jwk;
    std::string message;
  };
  const Case cases[] = {
      {JsonObject(With(Rsa().PublicMembers(), "n", "not base64!")),
       "\"n\" is not unpadded base64url"},
      {R"({"kty":"RSA","n":"AQAB"})", "\"e\" is missing"},
      {JsonObject(With(Rsa().PublicMembers(), "e", "AQ")), "\"e\" is not a usable"},
      {JsonObject(With(Ec().PublicMembers(), "x", "AAAA")), "\"x\" is not 32 bytes long"},
      {R"({"kty":"EC","crv":"P-256","x":"AA"})", "\"y\" is missing"},
      {JsonObject(With(Ed().PublicMembers(), "x", "AAAA")), "\"x\" is not 32 bytes long"},
      {R"({"kty":"OKP","crv":"Ed25519","x":5})", "\"x\" is not a string"},
      {R"({"crv":"Ed25519","x":"AA"})", "\"kty\" is missing"},
      {R"({"kty":"OKP","crv":"Ed25519","kid":7})", "\"kid\" is not a string"},
      {JsonObject(With(Ed().PublicMembers(), "d", "AAAA")), "private member \"d\""},
  };
  for (const Case& c : cases) {
    const absl::Status status = Jwks::Parse(JwksJson({Ed().PublicJwk(), c.jwk})).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.jwk;
    EXPECT_THAT(status.message(), HasSubstr("key 1")) << c.jwk;
    EXPECT_THAT(status.message(), HasSubstr(c.message)) << c.jwk;
  }
}

TEST(JwksTest, ReadsAFile) {
  const std::filesystem::path path =
      std::filesystem::path(testing::TempDir()) / "jwks_test_reads_a_file.json";
  {
    std::ofstream out(path);
    out << JwksJson({Ec().PublicJwk("ec")});
  }
  absl::StatusOr<std::shared_ptr<const Jwks>> jwks = Jwks::ReadFile(path.string());
  ASSERT_TRUE(jwks.ok()) << jwks.status();
  EXPECT_THAT((*jwks)->keys(), SizeIs(1));

  {
    std::ofstream out(path);
    out << "{\"keys\":";
  }
  const absl::Status malformed = Jwks::ReadFile(path.string()).status();
  EXPECT_EQ(malformed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(malformed.message(), HasSubstr(path.string()));
  std::filesystem::remove(path);

  const absl::Status missing = Jwks::ReadFile(path.string()).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr(path.string()));
}

}  // namespace
}  // namespace polymesh::gateway
