// gRPC status codes, their canonical names, and percent-encoding of
// grpc-message values (gRPC over HTTP/2 spec).
//
// Usage:
//
//   GrpcStatusName(GrpcStatus::kUnimplemented);     // "UNIMPLEMENTED"
//   PercentEncodeGrpcMessage("no route: \"/a.B/C\"");  // safe header value
//   PercentDecodeGrpcMessage("100%25 done");           // "100% done"
#ifndef POLYMESH_GATEWAY_SRC_COMMON_GRPC_STATUS_H_
#define POLYMESH_GATEWAY_SRC_COMMON_GRPC_STATUS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// The gRPC status codes (google.rpc.Code), with their wire numbers.
enum class GrpcStatus : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// The canonical upper-case name of `status` ("DEADLINE_EXCEEDED"), or
// "UNKNOWN" for a number outside 0..16.
absl::string_view GrpcStatusName(int status);
inline absl::string_view GrpcStatusName(GrpcStatus status) {
  return GrpcStatusName(static_cast<int>(status));
}

// The status a client sees when its HTTP/2 stream is reset with
// `h2_error_code` before a grpc-status arrived, as the gRPC HTTP/2 spec maps
// them: REFUSED_STREAM -> UNAVAILABLE, CANCEL -> CANCELLED,
// ENHANCE_YOUR_CALM -> RESOURCE_EXHAUSTED, INADEQUATE_SECURITY ->
// PERMISSION_DENIED, anything else -> INTERNAL.
GrpcStatus GrpcStatusFromHttp2Error(uint32_t h2_error_code);

// Percent-encodes a grpc-message value: bytes outside 0x20..0x7E and '%' are
// written as %XX (upper-case hex).
std::string PercentEncodeGrpcMessage(absl::string_view message);

// Decodes a grpc-message value as received: each '%' and two hex digits (of
// either case) become that byte; anything else, a '%' not followed by two
// hex digits included, is kept as it is (a malformed value is not an error,
// as the spec says). Decoding what PercentEncodeGrpcMessage wrote gives back
// the message.
std::string PercentDecodeGrpcMessage(absl::string_view value);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_GRPC_STATUS_H_
