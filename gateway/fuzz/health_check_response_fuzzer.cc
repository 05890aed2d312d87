// Fuzzes the parsing of an upstream's grpc.health.v1.HealthCheckResponse
// (upstream/health_checker.h: DecodeHealthCheckStatus, which reads the
// message without the generated code), and the request it sends.
//
// Properties: whatever protobuf's own parser accepts as a
// HealthCheckResponse decodes to the same status, and what it refuses is an
// INVALID_ARGUMENT; a request for any (UTF-8) service name parses back to
// that name.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fuzz_check.h"
#include "google/protobuf/stubs/common.h"
#include "grpc/health/v1/health.pb.h"
#include "upstream/health_checker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using polymesh::fuzz::Escaped;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<int> status = polymesh::gateway::DecodeHealthCheckStatus(bytes);
  grpc::health::v1::HealthCheckResponse message;
  const bool parsed = message.ParseFromArray(data, static_cast<int>(size));
  if (parsed) {
    FUZZ_CHECK(status.ok()) << Escaped(bytes) << ": " << status.status();
    FUZZ_CHECK(*status == static_cast<int>(message.status()))
        << Escaped(bytes) << ": " << *status << " != " << message.status();
  }
  if (!status.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(status.status())) << status.status();
  }

  // The bytes as a service name to ask about (a proto3 string: UTF-8).
  if (!google::protobuf::internal::IsStructurallyValidUTF8(bytes.data(),
                                                           static_cast<int>(bytes.size()))) {
    return 0;
  }
  const std::string request = polymesh::gateway::EncodeHealthCheckRequest(bytes);
  grpc::health::v1::HealthCheckRequest asked;
  FUZZ_CHECK(asked.ParseFromString(request)) << Escaped(bytes);
  FUZZ_CHECK(asked.service() == bytes) << Escaped(bytes);
  return 0;
}
