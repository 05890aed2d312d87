#include "common/grpc_timeout.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {
namespace {

constexpr int64_t kMaxValue = 99999999;  // 8 digits

struct Unit {
  char symbol;
  absl::Duration size;
};

// Finest first: formatting picks the first unit whose count fits.
constexpr Unit kUnits[] = {
    {'n', absl::Nanoseconds(1)}, {'u', absl::Microseconds(1)},
    {'m', absl::Milliseconds(1)}, {'S', absl::Seconds(1)},
    {'M', absl::Minutes(1)},      {'H', absl::Hours(1)},
};

}  // namespace

absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view value) {
  if (value.size() < 2 || value.size() > 9) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed grpc-timeout \"", value,
                     "\": want 1 to 8 digits and a unit (H, M, S, m, u, n)"));
  }
  int64_t count = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed grpc-timeout \"", value, "\": not a number"));
    }
    count = count * 10 + (c - '0');
  }
  const char symbol = value.back();
  for (const Unit& unit : kUnits) {
    if (unit.symbol == symbol) return count * unit.size;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed grpc-timeout \"", value, "\": unknown unit '",
      absl::string_view(&symbol, 1), "' (want H, M, S, m, u or n)"));
}

std::string FormatGrpcTimeout(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return "0n";
  for (const Unit& unit : kUnits) {
    absl::Duration remainder;
    const int64_t count =
        absl::IDivDuration(absl::Ceil(timeout, unit.size), unit.size, &remainder);
    if (count <= kMaxValue) {
      return absl::StrCat(count, absl::string_view(&unit.symbol, 1));
    }
  }
  return absl::StrCat(kMaxValue, "H");
}

}  // namespace polymesh::gateway
