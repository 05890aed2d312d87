// The `grpc-timeout` request header: parsing and formatting, as the gRPC
// HTTP/2 spec defines it (1 to 8 ASCII digits, then a unit: H hours,
// M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds).
//
// Usage:
//
//   absl::StatusOr<absl::Duration> timeout = ParseGrpcTimeout("250m");
//   std::string header = FormatGrpcTimeout(absl::Milliseconds(250));  // "250000u"
#ifndef POLYMESH_GATEWAY_SRC_COMMON_GRPC_TIMEOUT_H_
#define POLYMESH_GATEWAY_SRC_COMMON_GRPC_TIMEOUT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace polymesh::gateway {

// Parses a grpc-timeout value. INVALID_ARGUMENT when malformed (empty, more
// than 8 digits, a sign, or an unknown unit).
absl::StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view value);

// Formats `timeout` as a grpc-timeout value in the finest unit that fits in
// 8 digits, rounding up so that the receiver never sees a shorter deadline
// than meant. A timeout <= 0 is written as "0n"; one too long even for
// hours is capped at "99999999H".
std::string FormatGrpcTimeout(absl::Duration timeout);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_GRPC_TIMEOUT_H_
