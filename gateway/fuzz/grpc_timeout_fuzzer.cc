// Fuzzes the grpc-timeout header (common/grpc_timeout.h): ParseGrpcTimeout
// on arbitrary bytes, and FormatGrpcTimeout on arbitrary durations.
//
// Properties: a value parses exactly when it is 1 to 8 ASCII digits and a
// unit (H M S m u n), to the number times the unit, never negative; a
// formatted timeout parses back, never shorter than meant and at most one
// unit longer; what a parsed value formats to parses back to the same
// duration or, rounded to a coarser unit, no shorter.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/grpc_timeout.h"
#include "fuzz_check.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::fuzz::Escaped;

// The size of `unit`, or zero when it is not one.
absl::Duration UnitSize(char unit) {
  switch (unit) {
    case 'H': return absl::Hours(1);
    case 'M': return absl::Minutes(1);
    case 'S': return absl::Seconds(1);
    case 'm': return absl::Milliseconds(1);
    case 'u': return absl::Microseconds(1);
    case 'n': return absl::Nanoseconds(1);
    default: return absl::ZeroDuration();
  }
}

// The grammar, written out once more: false when `value` is not a
// grpc-timeout, else true with its duration in `out`.
bool ReferenceParse(absl::string_view value, absl::Duration* out) {
  if (value.size() < 2 || value.size() > 9) return false;
  int64_t count = 0;
  for (const char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return false;
    count = count * 10 + (c - '0');
  }
  const absl::Duration unit = UnitSize(value.back());
  if (unit == absl::ZeroDuration()) return false;
  *out = count * unit;
  return true;
}

void CheckFormat(absl::Duration timeout) {
  const std::string text = FormatGrpcTimeout(timeout);
  const absl::StatusOr<absl::Duration> parsed = ParseGrpcTimeout(text);
  FUZZ_CHECK(parsed.ok()) << "FormatGrpcTimeout(" << timeout << ") = \"" << text
                          << "\" does not parse: " << parsed.status();
  if (timeout <= absl::ZeroDuration()) {
    FUZZ_CHECK(text == "0n") << timeout << " -> " << text;
    return;
  }
  const absl::Duration unit = UnitSize(text.back());
  if (timeout > 99999999 * absl::Hours(1)) {
    FUZZ_CHECK(text == "99999999H") << timeout << " -> " << text;
    return;
  }
  FUZZ_CHECK(*parsed >= timeout) << timeout << " -> " << text << ": shorter";
  FUZZ_CHECK(*parsed - timeout < unit) << timeout << " -> " << text << ": more than a unit longer";
}

}  // namespace
}  // namespace polymesh::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  const absl::string_view value(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<absl::Duration> parsed = ParseGrpcTimeout(value);
  absl::Duration expected;
  const bool valid = ReferenceParse(value, &expected);
  FUZZ_CHECK(parsed.ok() == valid) << "\"" << Escaped(value) << "\": " << parsed.status();
  if (parsed.ok()) {
    FUZZ_CHECK(*parsed == expected) << "\"" << Escaped(value) << "\" -> " << *parsed;
    FUZZ_CHECK(*parsed >= absl::ZeroDuration()) << "\"" << Escaped(value) << "\" is negative";
    CheckFormat(*parsed);
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(parsed.status())) << parsed.status();
  }

  // The bytes as a duration in nanoseconds (any sign), and as a count of
  // each unit.
  int64_t nanos = 0;
  std::memcpy(&nanos, data, size < sizeof(nanos) ? size : sizeof(nanos));
  CheckFormat(absl::Nanoseconds(nanos));
  CheckFormat(absl::Microseconds(nanos));
  CheckFormat(absl::Seconds(nanos % (int64_t{1} << 40)));
  return 0;
}
