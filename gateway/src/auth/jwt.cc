#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "auth/base64url.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

absl::Status Refused(absl::string_view why) { return absl::UnauthenticatedError(why); }

// The algorithms accepted, each with the one key type it may use.
struct Algorithm {
  absl::string_view name;
  JwksKey::Type key_type;
};
constexpr Algorithm kAlgorithms[] = {
    {"RS256", JwksKey::Type::kRsa},
    {"ES256", JwksKey::Type::kEc256},
    {"EdDSA", JwksKey::Type::kEd25519},
};

const Algorithm* FindAlgorithm(absl::string_view name) {
  for (const Algorithm& algorithm : kAlgorithms) {
    if (algorithm.name == name) return &algorithm;
  }
  return nullptr;
}

// `text` quoted for a message when it is short and printable, else "".
std::string Quoted(absl::string_view text) {
  if (text.size() > 16) return "";
  for (const char c : text) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c)) || c == '"' || c == '\\') return "";
  }
  return absl::StrCat(" \"", text, "\"");
}

// A JSON object from a decoded segment; nullopt if it is not one.
std::optional<Struct> ParseObject(absl::string_view json) {
  Struct object;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(json.data(), json.size()), &object)
           .ok()) {
    return std::nullopt;
  }
  return object;
}

const Value* Find(const Struct& object, const std::string& name) {
  const auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

// The raw R || S of an ES256 signature (RFC 7518 §3.4) as the DER
// ECDSA-Sig-Value OpenSSL verifies; nullopt unless it is 64 bytes.
std::optional<std::string> Es256SignatureToDer(absl::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  ECDSA_SIG* signature = ECDSA_SIG_new();
  if (r == nullptr || s == nullptr || signature == nullptr ||
      ECDSA_SIG_set0(signature, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(signature);
    return std::nullopt;
  }
  std::optional<std::string> der;
  const int size = i2d_ECDSA_SIG(signature, nullptr);
  if (size > 0) {
    der.emplace(static_cast<size_t>(size), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der->data());
    if (i2d_ECDSA_SIG(signature, &out) != size) der.reset();
  }
  ECDSA_SIG_free(signature);
  return der;
}

// Whether `signature` is `key`'s over `input` (SHA-256 for RSA and ECDSA,
// Ed25519's own hashing for EdDSA).
bool SignatureVerifies(const JwksKey& key, absl::string_view input, absl::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  const EVP_MD* digest = key.type == JwksKey::Type::kEd25519 ? nullptr : EVP_sha256();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, digest, nullptr, key.key.get()) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  // A failed check leaves reasons on this thread's queue, which the TLS
  // code of the same thread reads; they are not ours to leave.
  if (!ok) ERR_clear_error();
  return ok;
}

// The NumericDate claim `name` (RFC 7519 §2): nullopt when absent, an error
// when it is not a number.
absl::StatusOr<std::optional<absl::Time>> TimeClaim(const Struct& claims,
                                                    const std::string& name) {
  const Value* value = Find(claims, name);
  if (value == nullptr) return std::optional<absl::Time>();
  if (value->kind_case() != Value::kNumberValue) {
    return Refused(absl::StrCat("malformed \"", name, "\" claim"));
  }
  return std::optional<absl::Time>(absl::UnixEpoch() + absl::Seconds(value->number_value()));
}

// The groups claim: an array of strings, or one string of space-separated
// names.
absl::StatusOr<std::vector<std::string>> Groups(const Value& value,
                                                const std::string& claim) {
  std::vector<std::string> groups;
  if (value.kind_case() == Value::kStringValue) {
    for (absl::string_view name :
         absl::StrSplit(value.string_value(), ' ', absl::SkipEmpty())) {
      groups.emplace_back(name);
    }
    return groups;
  }
  if (value.kind_case() == Value::kListValue) {
    for (const Value& name : value.list_value().values()) {
      if (name.kind_case() != Value::kStringValue) break;
      groups.push_back(name.string_value());
    }
    if (groups.size() == static_cast<size_t>(value.list_value().values_size())) return groups;
  }
  return Refused(absl::StrCat("malformed \"", claim, "\" claim"));
}

// A verified token's identity and "nbf".
struct Verified {
  JwtIdentity identity;
  absl::Time not_before = absl::InfinitePast();
};

absl::StatusOr<Verified> VerifyToken(absl::string_view token, const Jwks& keys,
                                     const JwtRules& rules, absl::Time now) {
  if (token.size() > kMaxJwtBytes) return Refused("token too long");
  std::vector<absl::string_view> segments = absl::StrSplit(token, '.');
  if (segments.size() != 3) return Refused("malformed token");
  std::optional<std::string> header_json = Base64UrlDecode(segments[0]);
  std::optional<std::string> payload_json = Base64UrlDecode(segments[1]);
  std::optional<std::string> signature = Base64UrlDecode(segments[2]);
  if (!header_json.has_value() || !payload_json.has_value() || !signature.has_value()) {
    return Refused("malformed token");
  }

  // The header (RFC 7515 §4.1), before the signature: it says which key.
  std::optional<Struct> header = ParseObject(*header_json);
  if (!header.has_value()) return Refused("malformed token header");
  const Value* alg = Find(*header, "alg");
  if (alg == nullptr || alg->kind_case() != Value::kStringValue) {
    return Refused("malformed token header");
  }
  const Algorithm* algorithm = FindAlgorithm(alg->string_value());
  if (algorithm == nullptr) {
    return Refused(absl::StrCat("unsupported alg", Quoted(alg->string_value())));
  }
  // Extensions this verifier would have to understand (RFC 7515 §4.1.11).
  if (Find(*header, "crit") != nullptr) return Refused("unsupported header \"crit\"");
  if (const Value* typ = Find(*header, "typ"); typ != nullptr) {
    if (typ->kind_case() != Value::kStringValue ||
        !(absl::EqualsIgnoreCase(typ->string_value(), "JWT") ||
          absl::EqualsIgnoreCase(typ->string_value(), "at+jwt"))) {
      return Refused("unsupported typ");
    }
  }
  const Value* kid = Find(*header, "kid");
  if (kid != nullptr && kid->kind_case() != Value::kStringValue) {
    return Refused("malformed token header");
  }

  std::string es256_der;
  absl::string_view signature_bytes = *signature;
  if (algorithm->key_type == JwksKey::Type::kEc256) {
    std::optional<std::string> der = Es256SignatureToDer(*signature);
    if (!der.has_value()) return Refused("bad signature");
    es256_der = *std::move(der);
    signature_bytes = es256_der;
  }
  // The signing input: the first two segments as sent, with their dot.
  const absl::string_view input =
      token.substr(0, segments[0].size() + 1 + segments[1].size());

  bool kid_known = false;
  bool key_found = false;
  bool verified = false;
  for (const JwksKey& key : keys.keys()) {
    if (kid != nullptr) {
      if (key.kid != kid->string_value()) continue;
      kid_known = true;
    }
    // A key is used with its own algorithm only (no algorithm confusion).
    if (key.type != algorithm->key_type) continue;
    if (!key.alg.empty() && key.alg != algorithm->name) continue;
    key_found = true;
    if (SignatureVerifies(key, input, signature_bytes)) {
      verified = true;
      break;
    }
  }
  if (kid != nullptr && !kid_known) return Refused("unknown kid");
  if (!key_found) return Refused(absl::StrCat("no key for alg ", algorithm->name));
  if (!verified) return Refused("bad signature");

  // The claims (RFC 7519 §4.1), once the issuer has been shown to sign them.
  std::optional<Struct> claims = ParseObject(*payload_json);
  if (!claims.has_value()) return Refused("malformed token payload");
  Verified out;
  ASSIGN_OR_RETURN(std::optional<absl::Time> exp, TimeClaim(*claims, "exp"));
  ASSIGN_OR_RETURN(std::optional<absl::Time> nbf, TimeClaim(*claims, "nbf"));
  ASSIGN_OR_RETURN(std::optional<absl::Time> iat, TimeClaim(*claims, "iat"));
  (void)iat;  // checked for its type only
  if (!exp.has_value()) return Refused("token has no \"exp\"");
  if (*exp <= now - rules.clock_skew) return Refused("token expired");
  if (nbf.has_value() && *nbf > now + rules.clock_skew) return Refused("token not yet valid");

  const Value* iss = Find(*claims, "iss");
  if (iss == nullptr || iss->kind_case() != Value::kStringValue ||
      iss->string_value() != rules.issuer) {
    return Refused("wrong issuer");
  }

  const Value* aud = Find(*claims, "aud");
  bool audience_accepted = false;
  const auto accepted = [&rules](const Value& value) {
    return value.kind_case() == Value::kStringValue &&
           std::find(rules.audiences.begin(), rules.audiences.end(), value.string_value()) !=
               rules.audiences.end();
  };
  if (aud != nullptr && aud->kind_case() == Value::kListValue) {
    for (const Value& one : aud->list_value().values()) {
      if (accepted(one)) audience_accepted = true;
    }
  } else if (aud != nullptr) {
    audience_accepted = accepted(*aud);
  }
  if (!audience_accepted) return Refused("no accepted audience");

  const Value* principal = Find(*claims, rules.principal_claim);
  if (principal == nullptr || principal->kind_case() != Value::kStringValue ||
      principal->string_value().empty()) {
    return Refused(absl::StrCat("missing principal claim", Quoted(rules.principal_claim)));
  }
  out.identity.principal = principal->string_value();
  if (!rules.groups_claim.empty()) {
    if (const Value* groups = Find(*claims, rules.groups_claim); groups != nullptr) {
      ASSIGN_OR_RETURN(out.identity.groups, Groups(*groups, rules.groups_claim));
    }
  }
  out.identity.expires = *exp;
  if (nbf.has_value()) out.not_before = *nbf;
  return out;
}

bool Expired(absl::Time expires, const JwtRules& rules, absl::Time now) {
  return expires <= now - rules.clock_skew;
}

}  // namespace

absl::StatusOr<JwtIdentity> VerifyJwt(absl::string_view token, const Jwks& keys,
                                      const JwtRules& rules, absl::Time now) {
  ASSIGN_OR_RETURN(Verified verified, VerifyToken(token, keys, rules, now));
  return std::move(verified.identity);
}

JwtVerifier::JwtVerifier(std::shared_ptr<const Jwks> keys, JwtRules rules, size_t max_cached)
    : keys_(std::move(keys)),
      rules_(std::move(rules)),
      shard_capacity_(max_cached == 0 ? 0 : std::max<size_t>(1, max_cached / kShards)) {}

absl::StatusOr<std::shared_ptr<const JwtIdentity>> JwtVerifier::Verify(absl::string_view token,
                                                                       absl::Time now) const {
  if (token.size() > kMaxJwtBytes) return Refused("token too long");
  if (shard_capacity_ == 0) {
    ASSIGN_OR_RETURN(Verified verified, VerifyToken(token, *keys_, rules_, now));
    return std::make_shared<const JwtIdentity>(std::move(verified.identity));
  }
  const Sha256Digest digest = Sha256(token);
  Shard& shard = shards_[digest[0] % kShards];
  std::optional<Entry> cached;
  {
    absl::ReaderMutexLock lock(&shard.mu);
    const auto it = shard.entries.find(digest);
    if (it != shard.entries.end()) cached = it->second;
  }
  if (cached.has_value()) {
    if (Expired(cached->identity->expires, rules_, now)) return Refused("token expired");
    if (cached->not_before > now + rules_.clock_skew) return Refused("token not yet valid");
    return std::move(cached->identity);
  }
  ASSIGN_OR_RETURN(Verified verified, VerifyToken(token, *keys_, rules_, now));
  Entry entry{std::make_shared<const JwtIdentity>(std::move(verified.identity)),
              verified.not_before};
  return Insert(shard, digest, std::move(entry), now);
}

std::shared_ptr<const JwtIdentity> JwtVerifier::Insert(Shard& shard, const Sha256Digest& digest,
                                                       Entry entry, absl::Time now) const {
  absl::MutexLock lock(&shard.mu);
  auto& entries = shard.entries;
  if (const auto it = entries.find(digest); it != entries.end()) return it->second.identity;
  if (entries.size() >= shard_capacity_) {
    // Full: the expired go first; if that leaves the shard more than three
    // quarters full, arbitrary ones follow. The next full shard is then at
    // least a quarter of its capacity of inserts away, which pays for this
    // pass.
    for (auto it = entries.begin(); it != entries.end();) {
      if (Expired(it->second.identity->expires, rules_, now)) {
        entries.erase(it++);
      } else {
        ++it;
      }
    }
    const size_t keep = shard_capacity_ - std::max<size_t>(1, shard_capacity_ / 4);
    for (auto it = entries.begin(); entries.size() > keep && it != entries.end();) {
      entries.erase(it++);
    }
  }
  std::shared_ptr<const JwtIdentity> identity = entry.identity;
  entries.emplace(digest, std::move(entry));
  return identity;
}

size_t JwtVerifier::cached_count() const {
  size_t count = 0;
  for (const Shard& shard : shards_) {
    absl::ReaderMutexLock lock(&shard.mu);
    count += shard.entries.size();
  }
  return count;
}

}  // namespace polymesh::gateway
