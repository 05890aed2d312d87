// HTTP/2 header lists of gRPC calls: storage, lookup, which headers a proxy
// must not forward, and nghttp2 name/value entries that view them.
//
// Usage:
//
//   HeaderList headers;
//   headers.Add(":status", "200");
//   headers.Add("grpc-status", "0");
//   NvArray nva;                                        // views into headers
//   for (const Header& h : headers.fields()) nva.push_back(MakeNv(h.name, h.value));
//   nghttp2_submit_response(session, stream_id, nva.data(), nva.size(), ...);
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_HEADERS_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_HEADERS_H_

#include <nghttp2/nghttp2.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/block_pool.h"

namespace polymesh::gateway {

// A header name or value. Its memory comes from the worker's block pool
// (common/block_pool.h), like the list's, so that a call's headers cost no
// malloc once the pool is warm.
using HeaderString = PoolString;

// One header field.
struct Header {
  // The lower-case name (pseudo-headers start with ':').
  HeaderString name;
  // The value; binary ("-bin") headers carry base64 text as sent.
  HeaderString value;
};

// nghttp2 name/value entries, on the block pool.
using NvArray = std::vector<nghttp2_nv, PoolAllocator<nghttp2_nv>>;

// An ordered list of header fields, as received or to send.
class HeaderList {
 public:
  // Appends a field. The first one reserves room for a gRPC call's usual
  // headers at once (one allocation instead of one per doubling).
  void Add(absl::string_view name, absl::string_view value) {
    if (fields_.capacity() == 0) fields_.reserve(kInitialCapacity);
    fields_.push_back({HeaderString(name), HeaderString(value)});
  }
  // The value of the first field named `name`, or nullptr.
  const HeaderString* Find(absl::string_view name) const;
  // The fields, in order.
  const std::vector<Header, PoolAllocator<Header>>& fields() const { return fields_; }
  // Removes every field named `name`.
  void Remove(absl::string_view name);
  // Removes every field.
  void Clear() { fields_.clear(); }
  // Whether there is no field.
  bool empty() const { return fields_.empty(); }

 private:
  // A gRPC request has about 8 fields (pseudo-headers, content-type, te,
  // user-agent, grpc-timeout, traceparent); a response 2 and trailers 2.
  static constexpr size_t kInitialCapacity = 10;
  std::vector<Header, PoolAllocator<Header>> fields_;
};

// Whether `name` is a connection-specific (hop-by-hop) header that HTTP/2
// forbids or that a proxy must not forward: connection, keep-alive,
// proxy-connection, transfer-encoding, upgrade, http2-settings, host. `te`
// is not in the list (gRPC needs "te: trailers").
bool IsHopByHopHeader(absl::string_view name);

// An nghttp2 entry viewing `name` and `value`.
inline nghttp2_nv MakeNv(absl::string_view name, absl::string_view value) {
  return nghttp2_nv{
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
      name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_HEADERS_H_
