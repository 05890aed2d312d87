// Between std::string_view and abseil's string_view: abseil as Debian
// packages it has its own type (it is built without std::string_view
// aliasing), and the tracing and YAML code speak std's.
#ifndef POLYMESH_GATEWAY_SRC_COMMON_STRING_VIEWS_H_
#define POLYMESH_GATEWAY_SRC_COMMON_STRING_VIEWS_H_

#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace polymesh {

inline absl::string_view ToAbsl(std::string_view value) { return {value.data(), value.size()}; }
inline std::string_view ToStd(absl::string_view value) { return {value.data(), value.size()}; }

// `value` without leading and trailing ASCII blanks.
inline std::string_view TrimBlanks(std::string_view value) {
  return ToStd(absl::StripAsciiWhitespace(ToAbsl(value)));
}

}  // namespace polymesh

#endif  // POLYMESH_GATEWAY_SRC_COMMON_STRING_VIEWS_H_
