#include "common/method_path.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

std::optional<MethodPath> MethodPath::Parse(absl::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  return ParseName(path);
}

std::optional<MethodPath> MethodPath::ParseName(absl::string_view name) {
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  const size_t slash = name.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == name.size() ||
      name.find('/', slash + 1) != absl::string_view::npos) {
    return std::nullopt;
  }
  return MethodPath(name, slash);
}

absl::string_view MethodPath::package() const {
  const absl::string_view service_name = service();
  const size_t dot = service_name.rfind('.');
  return dot == absl::string_view::npos ? absl::string_view() : service_name.substr(0, dot);
}

std::string MethodPath::Path() const { return absl::StrCat("/", name_); }

std::string MethodPath::FullName() const { return absl::StrCat(service(), ".", method()); }

}  // namespace polymesh::gateway
