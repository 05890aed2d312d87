#include "proxy/upstream_request.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_timeout.h"

namespace polymesh::gateway {

UpstreamRequest::UpstreamRequest(const HeaderList& headers, absl::Time deadline,
                                 const observability::ClientSpan* span,
                                 absl::string_view authority_suffix) {
  const HeaderString* path = headers.Find(":path");
  const HeaderString* authority = headers.Find(":authority");
  if (authority == nullptr) authority = headers.Find("host");
  const HeaderString* scheme = headers.Find(":scheme");

  nva_.reserve(headers.fields().size() + 4);
  nva_.push_back(MakeNv(":method", "POST"));
  nva_.push_back(MakeNv(":scheme", scheme != nullptr ? absl::string_view(*scheme)
                                                     : absl::string_view("http")));
  nva_.push_back(MakeNv(":path", path != nullptr ? absl::string_view(*path)
                                                 : absl::string_view("/")));
  if (authority != nullptr) {
    if (authority_suffix.empty()) {
      nva_.push_back(MakeNv(":authority", *authority));
    } else {
      authority_ = absl::StrCat(*authority, authority_suffix);
      nva_.push_back(MakeNv(":authority", authority_));
    }
  }
  for (const Header& header : headers.fields()) {
    const HeaderString& name = header.name;
    if (name.empty() || name[0] == ':' || IsHopByHopHeader(name) || name == "grpc-timeout") {
      continue;
    }
    if (name == "te" && header.value != "trailers") continue;
    if (span != nullptr && (name == "traceparent" || name == "tracestate")) continue;
    nva_.push_back(MakeNv(name, header.value));
  }
  if (deadline != absl::InfiniteFuture()) {
    // What is left of the deadline, not the original timeout.
    timeout_ = FormatGrpcTimeout(deadline - absl::Now());
    nva_.push_back(MakeNv("grpc-timeout", timeout_));
  }
  if (span != nullptr) {
    if (!span->traceparent().empty()) nva_.push_back(MakeNv("traceparent", span->traceparent()));
    if (!span->tracestate().empty()) nva_.push_back(MakeNv("tracestate", span->tracestate()));
  }
}

}  // namespace polymesh::gateway
