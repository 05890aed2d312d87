// Fuzzes API key files (auth/api_keys.h): ApiKeys::Parse on arbitrary YAML,
// then lookups.
//
// Properties: a file parses or is INVALID_ARGUMENT; a caller found for a
// key has a name.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "auth/api_keys.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<std::shared_ptr<const ApiKeys>> keys = ApiKeys::Parse(yaml, "fuzz.yaml");
  if (!keys.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(keys.status())) << keys.status();
    return 0;
  }
  // The seeds' entries hash "polymesh-demo-key".
  for (const absl::string_view key : {absl::string_view("polymesh-demo-key"), yaml}) {
    if (const ApiKeyCaller* caller = (*keys)->Find(key)) FUZZ_CHECK(!caller->name.empty());
  }
  return 0;
}
