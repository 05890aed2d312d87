// Fuzzes method paths (common/method_path.h): MethodPath::Parse, as every
// :path header goes through it, and MethodPath::ParseName, as routes and
// command lines name methods.
//
// Properties: a path parses exactly when it is "/", a non-empty service, "/",
// a non-empty method, with no other "/"; its parts put together give back
// the input; the package is what precedes the service's last dot.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/method_path.h"
#include "fuzz_check.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::fuzz::Escaped;

// The grammar of a name ("pkg.Service/Method"), written out once more.
bool IsMethodName(absl::string_view name) {
  size_t slashes = 0;
  size_t slash = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '/') {
      ++slashes;
      slash = i;
    }
  }
  return slashes == 1 && slash > 0 && slash + 1 < name.size();
}

void CheckParts(const MethodPath& path, absl::string_view name) {
  FUZZ_CHECK(path.name() == name) << Escaped(path.name()) << " != " << Escaped(name);
  FUZZ_CHECK(!path.service().empty() && !path.method().empty()) << Escaped(name);
  FUZZ_CHECK(path.service().find('/') == absl::string_view::npos) << Escaped(name);
  FUZZ_CHECK(path.method().find('/') == absl::string_view::npos) << Escaped(name);
  FUZZ_CHECK(absl::StrCat(path.service(), "/", path.method()) == name) << Escaped(name);
  FUZZ_CHECK(path.Path() == absl::StrCat("/", name)) << Escaped(name);
  FUZZ_CHECK(path.FullName() == absl::StrCat(path.service(), ".", path.method()))
      << Escaped(name);
  const absl::string_view package = path.package();
  const size_t dot = path.service().rfind('.');
  if (dot == absl::string_view::npos) {
    FUZZ_CHECK(package.empty()) << Escaped(name);
  } else {
    FUZZ_CHECK(package == path.service().substr(0, dot)) << Escaped(name);
  }
  // What it prints parses again, to the same parts.
  const std::string printed = path.Path();
  const std::optional<MethodPath> again = MethodPath::Parse(printed);
  FUZZ_CHECK(again.has_value()) << Escaped(printed);
  FUZZ_CHECK(again->service() == path.service() && again->method() == path.method())
      << Escaped(printed);
}

}  // namespace
}  // namespace polymesh::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  const std::optional<MethodPath> path = MethodPath::Parse(input);
  const bool is_path = !input.empty() && input.front() == '/' && IsMethodName(input.substr(1));
  FUZZ_CHECK(path.has_value() == is_path) << Escaped(input);
  if (path.has_value()) CheckParts(*path, input.substr(1));

  const std::optional<MethodPath> named = MethodPath::ParseName(input);
  const absl::string_view name =
      !input.empty() && input.front() == '/' ? input.substr(1) : input;
  FUZZ_CHECK(named.has_value() == IsMethodName(name)) << Escaped(input);
  if (named.has_value()) CheckParts(*named, name);
  return 0;
}
