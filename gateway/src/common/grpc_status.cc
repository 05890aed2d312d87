#include "common/grpc_status.h"

#include <array>

namespace polymesh::gateway {

absl::string_view GrpcStatusName(int status) {
  static constexpr std::array<absl::string_view, 17> kNames = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  if (status < 0 || status >= static_cast<int>(kNames.size())) {
    return "UNKNOWN";
  }
  return kNames[status];
}

GrpcStatus GrpcStatusFromHttp2Error(uint32_t h2_error_code) {
  switch (h2_error_code) {
    case 0x7:  // REFUSED_STREAM
      return GrpcStatus::kUnavailable;
    case 0x8:  // CANCEL
      return GrpcStatus::kCancelled;
    case 0xb:  // ENHANCE_YOUR_CALM
      return GrpcStatus::kResourceExhausted;
    case 0xc:  // INADEQUATE_SECURITY
      return GrpcStatus::kPermissionDenied;
    default:
      return GrpcStatus::kInternal;
  }
}

std::string PercentEncodeGrpcMessage(absl::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

namespace {

// The value of hex digit `c`, or -1.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string PercentDecodeGrpcMessage(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size()) {
      const int high = HexValue(value[i + 1]);
      const int low = HexValue(value[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(value[i]);
  }
  return out;
}

}  // namespace polymesh::gateway
