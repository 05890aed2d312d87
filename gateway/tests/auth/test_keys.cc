#include "test_keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "auth/base64url.h"
#include "common/json.h"

namespace polymesh::gateway {
namespace {

// Aborts with `what` when OpenSSL failed: the tests cannot go on without
// their keys.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test_keys: %s failed\n", what);
    std::abort();
  }
}

std::string BnParam(EVP_PKEY* key, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(key, name, &bn) == 1, name);
  const int size = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  std::string bytes(static_cast<size_t>(size), '\0');
  Check(BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), size) == size,
        "BN_bn2binpad");
  BN_free(bn);
  return bytes;
}

}  // namespace

std::string JsonObject(const JsonMembers& members) {
  std::string out = "{";
  for (const auto& [name, value] : members) {
    if (out.size() > 1) out += ",";
    AppendJsonString(out, name);
    out += ":";
    AppendJsonString(out, value);
  }
  out += "}";
  return out;
}

std::string JwksJson(const std::vector<std::string>& jwks) {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < jwks.size(); ++i) {
    if (i > 0) out += ",";
    out += jwks[i];
  }
  out += "]}";
  return out;
}

TestKey TestKey::Generate(JwksKey::Type type, int rsa_bits) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case JwksKey::Type::kRsa:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      break;
    case JwksKey::Type::kEc256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case JwksKey::Type::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  Check(key != nullptr, "EVP_PKEY_Q_keygen");
  return TestKey(type, key);
}

const TestKey& TestKey::Shared(JwksKey::Type type) {
  static const auto* const keys = new std::map<JwksKey::Type, TestKey>{
      {JwksKey::Type::kRsa, Generate(JwksKey::Type::kRsa)},
      {JwksKey::Type::kEc256, Generate(JwksKey::Type::kEc256)},
      {JwksKey::Type::kEd25519, Generate(JwksKey::Type::kEd25519)},
  };
  return keys->at(type);
}

JsonMembers TestKey::PublicMembers() const {
  switch (type_) {
    case JwksKey::Type::kRsa:
      return {{"kty", "RSA"},
              {"n", Base64UrlEncode(BnParam(key_.get(), OSSL_PKEY_PARAM_RSA_N))},
              {"e", Base64UrlEncode(BnParam(key_.get(), OSSL_PKEY_PARAM_RSA_E))}};
    case JwksKey::Type::kEc256:
      return {{"kty", "EC"},
              {"crv", "P-256"},
              {"x", Base64UrlEncode(BnParam(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32))},
              {"y", Base64UrlEncode(BnParam(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
    case JwksKey::Type::kEd25519: {
      std::string x(32, '\0');
      size_t size = x.size();
      Check(EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(x.data()),
                                        &size) == 1 &&
                size == 32,
            "EVP_PKEY_get_raw_public_key");
      return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", Base64UrlEncode(x)}};
    }
  }
  return {};
}

std::string TestKey::PublicJwk(absl::string_view kid, absl::string_view alg) const {
  JsonMembers members = PublicMembers();
  if (!kid.empty()) members.emplace_back("kid", std::string(kid));
  if (!alg.empty()) members.emplace_back("alg", std::string(alg));
  members.emplace_back("use", "sig");
  return JsonObject(members);
}

std::string TestKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(bio != nullptr && PEM_write_bio_PUBKEY(bio, key_.get()) == 1, "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string TestKey::Sign(absl::string_view input) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const EVP_MD* digest = type_ == JwksKey::Type::kEd25519 ? nullptr : EVP_sha256();
  Check(ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, digest, nullptr, key_.get()) == 1,
        "EVP_DigestSignInit");
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t size = 0;
  Check(EVP_DigestSign(ctx, nullptr, &size, data, input.size()) == 1, "EVP_DigestSign");
  std::string signature(size, '\0');
  Check(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &size, data,
                       input.size()) == 1,
        "EVP_DigestSign");
  signature.resize(size);
  EVP_MD_CTX_free(ctx);
  if (type_ != JwksKey::Type::kEc256) return signature;
  // DER ECDSA-Sig-Value -> R || S, each left-padded to 32 bytes.
  const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size()));
  Check(sig != nullptr, "d2i_ECDSA_SIG");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  Check(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32) == 32,
        "BN_bn2binpad");
  ECDSA_SIG_free(sig);
  return raw;
}

std::string JwsSigningInput(absl::string_view header_json, absl::string_view payload_json) {
  return absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload_json));
}

std::string SignJwt(absl::string_view header_json, absl::string_view payload_json,
                    const TestKey& key) {
  const std::string input = JwsSigningInput(header_json, payload_json);
  return absl::StrCat(input, ".", Base64UrlEncode(key.Sign(input)));
}

std::string JwtWithSignature(absl::string_view header_json, absl::string_view payload_json,
                             absl::string_view signature) {
  return absl::StrCat(JwsSigningInput(header_json, payload_json), ".",
                      Base64UrlEncode(signature));
}

}  // namespace polymesh::gateway
