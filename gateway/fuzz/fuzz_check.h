// The one assertion of the fuzz targets: a property that does not hold is a
// crash, which libFuzzer reports and saves the input of.
//
// Usage:
//
//   FUZZ_CHECK(parsed->size() <= input.size()) << "input: " << input;
#ifndef POLYMESH_GATEWAY_FUZZ_FUZZ_CHECK_H_
#define POLYMESH_GATEWAY_FUZZ_FUZZ_CHECK_H_

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace polymesh::fuzz {

// Collects the message of a failed check, then prints it and aborts.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    message_ << file << ":" << line << ": check failed: " << condition << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << message_.str() << std::endl;
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    message_ << value;
    return *this;
  }

 private:
  std::ostringstream message_;
};

// `bytes` in C escapes, for messages.
inline std::string Escaped(absl::string_view bytes) { return absl::CHexEscape(bytes); }
inline std::string Escaped(std::string_view bytes) {
  return absl::CHexEscape(absl::string_view(bytes.data(), bytes.size()));
}
inline std::string Escaped(const std::string& bytes) { return absl::CHexEscape(bytes); }

}  // namespace polymesh::fuzz

// A loop rather than an if-else, so that it nests in an if without braces:
// the failure's destructor aborts, so its body runs at most once.
#define FUZZ_CHECK(condition) \
  while (!(condition)) ::polymesh::fuzz::CheckFailure(__FILE__, __LINE__, #condition)

#endif  // POLYMESH_GATEWAY_FUZZ_FUZZ_CHECK_H_
