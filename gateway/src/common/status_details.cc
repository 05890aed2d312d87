#include "common/status_details.h"

#include <cstdint>
#include <string>

namespace polymesh::gateway {
namespace {

// Wire types (protobuf encoding): varint and length-delimited.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void AppendTag(std::string& out, uint32_t field, uint32_t wire_type) {
  AppendVarint(out, (field << 3) | wire_type);
}

void AppendBytes(std::string& out, uint32_t field, absl::string_view bytes) {
  AppendTag(out, field, kLengthDelimited);
  AppendVarint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

// An int64 or int32 field; negative values take ten bytes, as protobuf
// writes them.
void AppendInt(std::string& out, uint32_t field, int64_t value) {
  if (value == 0) return;  // proto3 leaves defaults out
  AppendTag(out, field, kVarint);
  AppendVarint(out, static_cast<uint64_t>(value));
}

// google.protobuf.Any{type_url, value}.
std::string Any(absl::string_view type_url, absl::string_view value) {
  std::string any;
  AppendBytes(any, 1, type_url);
  AppendBytes(any, 2, value);
  return any;
}

}  // namespace

std::string RateLimitedStatus(GrpcStatus code, absl::string_view message,
                              absl::Duration retry_delay, absl::string_view subject,
                              absl::string_view description) {
  // google.protobuf.Duration{seconds = 1, nanos = 2}, normalized so that
  // both have the sign of the whole.
  const int64_t seconds = absl::IDivDuration(retry_delay, absl::Seconds(1), &retry_delay);
  const int64_t nanos = absl::ToInt64Nanoseconds(retry_delay);
  std::string duration;
  AppendInt(duration, 1, seconds);
  AppendInt(duration, 2, nanos);
  std::string retry_info;  // RetryInfo{retry_delay = 1}
  AppendBytes(retry_info, 1, duration);
  std::string violation;  // QuotaFailure.Violation{subject = 1, description = 2}
  AppendBytes(violation, 1, subject);
  AppendBytes(violation, 2, description);
  std::string quota_failure;  // QuotaFailure{violations = 1}
  AppendBytes(quota_failure, 1, violation);

  std::string status;  // google.rpc.Status{code = 1, message = 2, details = 3}
  AppendInt(status, 1, static_cast<int64_t>(code));
  if (!message.empty()) AppendBytes(status, 2, message);
  AppendBytes(status, 3, Any(kRetryInfoType, retry_info));
  AppendBytes(status, 3, Any(kQuotaFailureType, quota_failure));
  return status;
}

}  // namespace polymesh::gateway
