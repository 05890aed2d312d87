#include "auth/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "auth/base64url.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

// "key 2 (kid \"a\")" or "key 2": how messages name a key.
std::string KeyName(size_t index, const std::string& kid) {
  if (kid.empty()) return absl::StrCat("key ", index);
  return absl::StrCat("key ", index, " (kid \"", kid, "\")");
}

// One JWK object, with the key's name for messages.
class Jwk {
 public:
  Jwk(const Struct& object, size_t index) : object_(object), index_(index) {}

  void set_kid(std::string kid) { kid_ = std::move(kid); }

  absl::Status Error(absl::string_view what) const {
    // OpenSSL's reasons are not part of the message; drop them.
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("JWKS ", KeyName(index_, kid_), ": ", what));
  }

  bool Has(const std::string& member) const { return object_.fields().contains(member); }

  // The string member `member`: nullopt when absent, an error when it is
  // not a string.
  absl::StatusOr<std::optional<std::string>> OptionalString(const std::string& member) const {
    const auto it = object_.fields().find(member);
    if (it == object_.fields().end()) return std::optional<std::string>();
    if (it->second.kind_case() != Value::kStringValue) {
      return Error(absl::StrCat("\"", member, "\" is not a string"));
    }
    return std::optional<std::string>(it->second.string_value());
  }

  // The base64url member `member`, decoded; an error when it is absent or
  // not base64url.
  absl::StatusOr<std::string> Bytes(const std::string& member) const {
    ASSIGN_OR_RETURN(std::optional<std::string> text, OptionalString(member));
    if (!text.has_value()) return Error(absl::StrCat("\"", member, "\" is missing"));
    std::optional<std::string> bytes = Base64UrlDecode(*text);
    if (!bytes.has_value()) {
      return Error(absl::StrCat("\"", member, "\" is not unpadded base64url"));
    }
    if (bytes->empty()) return Error(absl::StrCat("\"", member, "\" is empty"));
    return *std::move(bytes);
  }

  // Whether the JWK's "key_ops", if present, allow verifying signatures.
  absl::StatusOr<bool> KeyOpsAllowVerify() const {
    const auto it = object_.fields().find("key_ops");
    if (it == object_.fields().end()) return true;
    if (it->second.kind_case() != Value::kListValue) {
      return Error("\"key_ops\" is not an array");
    }
    for (const Value& op : it->second.list_value().values()) {
      if (op.kind_case() != Value::kStringValue) {
        return Error("\"key_ops\" holds a value that is not a string");
      }
      if (op.string_value() == "verify") return true;
    }
    return false;
  }

 private:
  const Struct& object_;
  size_t index_;
  std::string kid_;
};

BnPtr ToBn(const std::string& bytes) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

// An OpenSSL public key of algorithm `name` from `params`.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> FromData(const Jwk& jwk, const char* name,
                                                   OSSL_PARAM* params,
                                                   absl::string_view what_failed) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, name, nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return jwk.Error(absl::StrCat("OpenSSL has no ", name, " support"));
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1 || key == nullptr) {
    return jwk.Error(what_failed);
  }
  return Own(key);
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> RsaKey(const Jwk& jwk) {
  ASSIGN_OR_RETURN(const std::string n_bytes, jwk.Bytes("n"));
  ASSIGN_OR_RETURN(const std::string e_bytes, jwk.Bytes("e"));
  BnPtr n = ToBn(n_bytes);
  BnPtr e = ToBn(e_bytes);
  if (n == nullptr || e == nullptr) return jwk.Error("out of memory");
  const int bits = BN_num_bits(n.get());
  if (bits < Jwks::kMinRsaBits) {
    return jwk.Error(absl::StrCat("\"n\" is a ", bits, "-bit RSA modulus; at least ",
                                  Jwks::kMinRsaBits, " bits are required"));
  }
  if (bits > Jwks::kMaxRsaBits) {
    return jwk.Error(absl::StrCat("\"n\" is a ", bits, "-bit RSA modulus; at most ",
                                  Jwks::kMaxRsaBits, " bits are accepted"));
  }
  if (!BN_is_odd(n.get())) return jwk.Error("\"n\" is not an RSA modulus (it is even)");
  // A public exponent is odd and at least 3; 64 bits is more than any issuer
  // uses (65537 nearly always).
  if (!BN_is_odd(e.get()) || BN_is_one(e.get()) || BN_num_bits(e.get()) > 64) {
    return jwk.Error("\"e\" is not a usable RSA public exponent");
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return jwk.Error("out of memory");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (params == nullptr) return jwk.Error("out of memory");
  return FromData(jwk, "RSA", params.get(), "\"n\" and \"e\" are not an RSA public key");
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> Ec256Key(const Jwk& jwk) {
  ASSIGN_OR_RETURN(const std::string x, jwk.Bytes("x"));
  ASSIGN_OR_RETURN(const std::string y, jwk.Bytes("y"));
  if (x.size() != 32) return jwk.Error("\"x\" is not 32 bytes long");
  if (y.size() != 32) return jwk.Error("\"y\" is not 32 bytes long");
  // The point in uncompressed form (SEC 1 §2.3.3).
  std::string point = "\x04";
  point += x;
  point += y;
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return jwk.Error("out of memory");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (params == nullptr) return jwk.Error("out of memory");
  constexpr absl::string_view kOffCurve = "\"x\" and \"y\" are not a point on the curve P-256";
  ASSIGN_OR_RETURN(std::shared_ptr<EVP_PKEY> key, FromData(jwk, "EC", params.get(), kOffCurve));
  // OpenSSL checks the point when it decodes it; check it again, explicitly,
  // with the full public key validation (on the curve, not at infinity).
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) return jwk.Error(kOffCurve);
  return key;
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> Ed25519Key(const Jwk& jwk) {
  ASSIGN_OR_RETURN(const std::string x, jwk.Bytes("x"));
  if (x.size() != 32) return jwk.Error("\"x\" is not 32 bytes long");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size());
  if (key == nullptr) return jwk.Error("\"x\" is not an Ed25519 public key");
  return Own(key);
}

// The key `object` (the index-th of the set) if it is one to keep, nullopt
// if it is one to skip.
absl::StatusOr<std::optional<JwksKey>> ParseKey(const Struct& object, size_t index) {
  Jwk jwk(object, index);
  ASSIGN_OR_RETURN(std::optional<std::string> kid, jwk.OptionalString("kid"));
  if (kid.has_value()) jwk.set_kid(*kid);
  ASSIGN_OR_RETURN(std::optional<std::string> kty, jwk.OptionalString("kty"));
  if (!kty.has_value()) return jwk.Error("\"kty\" is missing");
  ASSIGN_OR_RETURN(std::optional<std::string> use, jwk.OptionalString("use"));
  ASSIGN_OR_RETURN(std::optional<std::string> crv, jwk.OptionalString("crv"));
  ASSIGN_OR_RETURN(std::optional<std::string> alg, jwk.OptionalString("alg"));
  ASSIGN_OR_RETURN(const bool verify, jwk.KeyOpsAllowVerify());

  JwksKey key;
  std::string accepted_alg;
  if (*kty == "RSA") {
    key.type = JwksKey::Type::kRsa;
    accepted_alg = "RS256";
  } else if (*kty == "EC" && crv == "P-256") {
    key.type = JwksKey::Type::kEc256;
    accepted_alg = "ES256";
  } else if (*kty == "OKP" && crv == "Ed25519") {
    key.type = JwksKey::Type::kEd25519;
    accepted_alg = "EdDSA";
  } else {
    return std::optional<JwksKey>();  // another type or curve ("oct", P-384, X25519, ...)
  }
  if ((use.has_value() && *use != "sig") || !verify) return std::optional<JwksKey>();
  // An RSA key for RS384 or PS256, say: not one any accepted token can use.
  if (alg.has_value() && *alg != accepted_alg) return std::optional<JwksKey>();
  // A set of public keys that carries a private one has leaked it.
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
    if (jwk.Has(member)) {
      return jwk.Error(absl::StrCat("holds the private member \"", member,
                                    "\"; a JWKS must have public keys only"));
    }
  }

  switch (key.type) {
    case JwksKey::Type::kRsa: {
      ASSIGN_OR_RETURN(key.key, RsaKey(jwk));
      break;
    }
    case JwksKey::Type::kEc256: {
      ASSIGN_OR_RETURN(key.key, Ec256Key(jwk));
      break;
    }
    case JwksKey::Type::kEd25519: {
      ASSIGN_OR_RETURN(key.key, Ed25519Key(jwk));
      break;
    }
  }
  key.kid = kid.value_or("");
  key.alg = alg.value_or("");
  return std::optional<JwksKey>(std::move(key));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Jwks>> Jwks::Parse(absl::string_view json) {
  Struct document;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &document);
  if (!parsed.ok()) {
    const auto message = parsed.message();
    return absl::InvalidArgumentError(absl::StrCat(
        "JWKS is not a JSON object: ", absl::string_view(message.data(), message.size())));
  }
  const auto keys = document.fields().find("keys");
  if (keys == document.fields().end()) {
    return absl::InvalidArgumentError("JWKS has no \"keys\" member");
  }
  if (keys->second.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("JWKS \"keys\" is not an array");
  }
  std::vector<JwksKey> usable;
  const auto& values = keys->second.list_value().values();
  for (int i = 0; i < values.size(); ++i) {
    if (values[i].kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(absl::StrCat("JWKS key ", i, " is not an object"));
    }
    ASSIGN_OR_RETURN(std::optional<JwksKey> key,
                     ParseKey(values[i].struct_value(), static_cast<size_t>(i)));
    if (key.has_value()) usable.push_back(*std::move(key));
  }
  if (usable.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JWKS has no usable key among its ", values.size(),
        " (RSA, EC P-256 or OKP Ed25519 signature keys for RS256, ES256 or EdDSA)"));
  }
  return std::shared_ptr<const Jwks>(new Jwks(std::move(usable)));
}

absl::StatusOr<std::shared_ptr<const Jwks>> Jwks::ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat("JWKS file \"", path, "\" does not exist"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("JWKS file \"", path, "\" cannot be read: ", std::strerror(error)));
  }
  std::string text;
  char buffer[16384];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat("JWKS file \"", path,
                                                     "\" is larger than ", kMaxFileBytes,
                                                     " bytes"));
    }
  }
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("JWKS file \"", path, "\" cannot be read"));
  }
  absl::StatusOr<std::shared_ptr<const Jwks>> jwks = Parse(text);
  if (!jwks.ok()) {
    return absl::Status(jwks.status().code(),
                        absl::StrCat("\"", path, "\": ", jwks.status().message()));
  }
  return jwks;
}

}  // namespace polymesh::gateway
