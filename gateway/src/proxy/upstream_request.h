// The header block of an upstream request: a downstream call's request
// headers as a proxy forwards them.
//
// Pseudo-headers first (:method POST, :scheme, :path, :authority with an
// optional suffix such as "-shadow" for mirrored calls), then every field
// but hop-by-hop ones and the client's grpc-timeout, which is replaced by
// what is left of the deadline; the trace context is the attempt's CLIENT
// span's when there is one, else the client's, passed on unchanged.
//
// Usage (in UpstreamStreamCallbacks::OnUpstreamReady()):
//
//   UpstreamRequest request(request_headers, deadline, &client_span, "");
//   connection->Submit(request.nva(), has_body, this);
#ifndef POLYMESH_GATEWAY_SRC_PROXY_UPSTREAM_REQUEST_H_
#define POLYMESH_GATEWAY_SRC_PROXY_UPSTREAM_REQUEST_H_

#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "observability/tracing.h"
#include "transport/headers.h"

namespace polymesh::gateway {

// An upstream request's headers; views into `headers` and `span`, which must
// outlive it.
class UpstreamRequest {
 public:
  // The request for a call with `headers`, due by `deadline`
  // (absl::InfiniteFuture() for none). `span`: the attempt's CLIENT span,
  // whose trace context replaces the client's; nullptr to pass the client's
  // on. `authority_suffix` is appended to :authority.
  UpstreamRequest(const HeaderList& headers, absl::Time deadline,
                  const observability::ClientSpan* span, absl::string_view authority_suffix);
  UpstreamRequest(const UpstreamRequest&) = delete;
  UpstreamRequest& operator=(const UpstreamRequest&) = delete;

  // The name/value entries for nghttp2_submit_request().
  const NvArray& nva() const { return nva_; }

 private:
  std::string authority_;
  std::string timeout_;
  NvArray nva_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_PROXY_UPSTREAM_REQUEST_H_
