// Fuzzes JWKS documents (auth/jwks.h): Jwks::Parse on arbitrary bytes.
//
// Properties: a document parses or is INVALID_ARGUMENT; a parsed set has at
// least one key, each with an OpenSSL key of its type and a known type.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "auth/jwks.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<std::shared_ptr<const Jwks>> keys = Jwks::Parse(json);
  if (!keys.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(keys.status())) << keys.status();
    return 0;
  }
  FUZZ_CHECK(!(*keys)->keys().empty()) << "a set without a usable key";
  for (const JwksKey& key : (*keys)->keys()) {
    FUZZ_CHECK(key.key != nullptr) << "key \"" << key.kid << "\" has no OpenSSL key";
  }
  return 0;
}
