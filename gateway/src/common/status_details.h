// The rich error model's details (google.rpc.Status, as gRPC carries it in
// the `grpc-status-details-bin` trailer) for a call over a rate limit:
// google.rpc.RetryInfo (when to try again) and google.rpc.QuotaFailure
// (which quota). Written in protobuf's wire format here, the only place the
// gateway writes these messages, so that the data path needs no generated
// googleapis code.
//
// Usage:
//
//   std::string status = RateLimitedStatus(GrpcStatus::kResourceExhausted, message,
//                                          absl::Milliseconds(120), "demo", "ai: 50/s");
//   trailers.Add("grpc-status-details-bin", absl::Base64Escape(status));
#ifndef POLYMESH_GATEWAY_SRC_COMMON_STATUS_DETAILS_H_
#define POLYMESH_GATEWAY_SRC_COMMON_STATUS_DETAILS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace polymesh::gateway {

// The type URLs of the details.
inline constexpr absl::string_view kRetryInfoType = "type.googleapis.com/google.rpc.RetryInfo";
inline constexpr absl::string_view kQuotaFailureType =
    "type.googleapis.com/google.rpc.QuotaFailure";

// A serialized google.rpc.Status with `code` and `message`, and two details:
// RetryInfo{retry_delay} and QuotaFailure{violations: [{subject,
// description}]}.
std::string RateLimitedStatus(GrpcStatus code, absl::string_view message,
                              absl::Duration retry_delay, absl::string_view subject,
                              absl::string_view description);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_STATUS_DETAILS_H_
