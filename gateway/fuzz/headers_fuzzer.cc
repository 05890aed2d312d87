// Fuzzes request header handling (transport/headers.h and the upstream
// request built from them, proxy/upstream_request.h): a header list as a
// client's HEADERS frame gives it, then the header block the gateway sends
// upstream for it.
//
// Input: header fields as (name, value) pairs (names often from the set a
// gRPC request has, so that they meet), then the call's deadline and
// tracing.
//
// Properties: the list keeps every field in order and Find() returns the
// first one of a name; the upstream block starts with :method POST, the
// client's :scheme and :path (or "http" and "/") and its :authority (or
// host) with the suffix, then the client's other fields in order, without
// pseudo-headers, hop-by-hop fields, the client's grpc-timeout or a `te`
// other than "trailers", and ends with the gateway's grpc-timeout when the
// call has a deadline; fields valid in the client's block stay valid.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_timeout.h"
#include "fuzz_check.h"
#include "fuzzer/FuzzedDataProvider.h"
#include "observability/tracing.h"
#include "proxy/upstream_request.h"
#include "transport/headers.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::fuzz::Escaped;

constexpr const char* kNames[] = {
    ":method", ":scheme", ":path", ":authority", "host", "content-type", "te",
    "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "traceparent",
    "tracestate", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "upgrade", "http2-settings", "x-tenant", "authorization", "data-bin", "",
};

bool ReferenceHopByHop(absl::string_view name) {
  for (const char* hop : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                          "upgrade", "http2-settings", "host"}) {
    if (name == hop) return true;
  }
  return false;
}

absl::string_view View(const uint8_t* bytes, size_t length) {
  return {reinterpret_cast<const char*>(bytes), length};
}

bool ValidField(absl::string_view name, absl::string_view value) {
  const auto* n = reinterpret_cast<const uint8_t*>(name.data());
  const auto* v = reinterpret_cast<const uint8_t*>(value.data());
  return nghttp2_check_header_name(n, name.size()) != 0 &&
         nghttp2_check_header_value(v, value.size()) != 0;
}

// Whether the upstream block forwards a client field.
bool Forwarded(absl::string_view name, absl::string_view value, bool traced) {
  if (name.empty() || name[0] == ':' || ReferenceHopByHop(name) || name == "grpc-timeout") {
    return false;
  }
  if (name == "te" && value != "trailers") return false;
  if (traced && (name == "traceparent" || name == "tracestate")) return false;
  return true;
}

}  // namespace
}  // namespace polymesh::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  FuzzedDataProvider input(data, size);

  std::vector<std::pair<std::string, std::string>> fields;
  const size_t count = input.ConsumeIntegralInRange<size_t>(0, 40);
  for (size_t i = 0; i < count && input.remaining_bytes() > 0; ++i) {
    std::string name = input.ConsumeBool() ? std::string(input.PickValueInArray(kNames))
                                           : input.ConsumeRandomLengthString(32);
    std::string value = input.ConsumeRandomLengthString(64);
    fields.emplace_back(std::move(name), std::move(value));
  }
  const bool with_deadline = input.ConsumeBool();
  const int64_t deadline_ms = input.ConsumeIntegralInRange<int64_t>(-1000, 100000000);
  const bool traced = input.ConsumeBool();
  const std::string suffix = input.ConsumeBool() ? ".mesh.internal" : "";

  HeaderList headers;
  FUZZ_CHECK(headers.empty());
  bool all_valid = true;
  for (const auto& [name, value] : fields) {
    headers.Add(name, value);
    all_valid = all_valid && ValidField(name, value);
  }
  FUZZ_CHECK(headers.fields().size() == fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    const Header& header = headers.fields()[i];
    FUZZ_CHECK(absl::string_view(header.name) == fields[i].first &&
               absl::string_view(header.value) == fields[i].second)
        << i;
    FUZZ_CHECK(IsHopByHopHeader(fields[i].first) == ReferenceHopByHop(fields[i].first))
        << Escaped(fields[i].first);
    // Find() answers the first field of the name.
    const HeaderString* found = headers.Find(fields[i].first);
    FUZZ_CHECK(found != nullptr);
    size_t first = 0;
    while (fields[first].first != fields[i].first) ++first;
    FUZZ_CHECK(found == &headers.fields()[first].value) << Escaped(fields[i].first);
  }
  // A name no field has is not found.
  std::string absent = "\xff";
  for (const auto& field : fields) {
    if (field.first.size() >= absent.size()) absent = std::string(field.first.size() + 1, '\xff');
  }
  FUZZ_CHECK(headers.Find(absent) == nullptr);

  // A span of a tracer that passes the client's context on.
  static polymesh::observability::Tracer* const tracer =
      polymesh::observability::Tracer::FromEnvironment({.disabled = true})->release();
  const HeaderString* traceparent = headers.Find("traceparent");
  polymesh::observability::ServerSpan server = tracer->StartServer(
      "/a.B/C", traceparent != nullptr ? std::string_view(*traceparent) : std::string_view(),
      "");
  polymesh::observability::ClientSpan client = server.StartClient("127.0.0.1", 1);

  const absl::Time deadline =
      with_deadline ? absl::Now() + absl::Milliseconds(deadline_ms) : absl::InfiniteFuture();
  const UpstreamRequest request(headers, deadline, traced ? &client : nullptr, suffix);
  const NvArray& nva = request.nva();
  std::vector<std::pair<absl::string_view, absl::string_view>> out;
  for (const nghttp2_nv& nv : nva) {
    out.emplace_back(View(nv.name, nv.namelen), View(nv.value, nv.valuelen));
  }

  const auto first_of = [&](absl::string_view name, absl::string_view otherwise) {
    const HeaderString* value = headers.Find(name);
    return value != nullptr ? absl::string_view(*value) : otherwise;
  };
  size_t at = 0;
  FUZZ_CHECK(out.size() >= 3);
  FUZZ_CHECK(out[0].first == ":method" && out[0].second == "POST");
  FUZZ_CHECK(out[1].first == ":scheme" && out[1].second == first_of(":scheme", "http"));
  FUZZ_CHECK(out[2].first == ":path" && out[2].second == first_of(":path", "/"));
  at = 3;
  const HeaderString* authority = headers.Find(":authority");
  if (authority == nullptr) authority = headers.Find("host");
  if (authority != nullptr) {
    FUZZ_CHECK(at < out.size() && out[at].first == ":authority" &&
               out[at].second == absl::StrCat(*authority, suffix));
    ++at;
  }
  for (const auto& [name, value] : fields) {
    if (!Forwarded(name, value, traced)) continue;
    FUZZ_CHECK(at < out.size() && out[at].first == name && out[at].second == value)
        << "field " << Escaped(name) << " not forwarded in order";
    ++at;
  }
  if (with_deadline) {
    FUZZ_CHECK(at < out.size() && out[at].first == "grpc-timeout");
    const absl::StatusOr<absl::Duration> timeout = ParseGrpcTimeout(out[at].second);
    FUZZ_CHECK(timeout.ok()) << Escaped(out[at].second);
    // What is left of the deadline, rounded up by less than a part in 10^6.
    const absl::Duration most = absl::Milliseconds(deadline_ms < 0 ? 0 : deadline_ms);
    FUZZ_CHECK(*timeout <= most + most / 1000000 + absl::Nanoseconds(1))
        << Escaped(out[at].second) << " for " << deadline_ms << "ms";
    ++at;
  }
  if (traced && !client.traceparent().empty()) {
    FUZZ_CHECK(at < out.size() && out[at].first == "traceparent" &&
               out[at].second == client.traceparent());
    ++at;
  }
  if (traced && !client.tracestate().empty()) ++at;
  FUZZ_CHECK(at == out.size()) << out.size() - at << " fields more than expected";

  if (all_valid && suffix.empty()) {
    for (const auto& [name, value] : out) {
      FUZZ_CHECK(name[0] == ':' || ValidField(name, value))
          << "invalid field forwarded: " << Escaped(name) << ": " << Escaped(value);
    }
  }

  headers.Clear();
  FUZZ_CHECK(headers.empty());
  return 0;
}
