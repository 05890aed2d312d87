// One HTTP/2 (h2c, prior knowledge) connection from a client: an nghttp2
// server session whose streams are gRPC calls.
//
// Usage (what a worker does on accept):
//
//   absl::StatusOr<std::unique_ptr<DownstreamConnection>> conn =
//       DownstreamConnection::Create(context, std::move(fd));
//   (*conn)->set_close_callback(...);   // release it to loop.DeferDelete()
//   ...
//   (*conn)->Drain();                    // at shutdown: GOAWAY, finish calls
#ifndef POLYMESH_GATEWAY_SRC_PROXY_DOWNSTREAM_CONNECTION_H_
#define POLYMESH_GATEWAY_SRC_PROXY_DOWNSTREAM_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proxy/call.h"
#include "transport/http2_connection.h"

namespace polymesh::gateway {

// A client connection and its calls.
class DownstreamConnection : public Http2Connection {
 public:
  // Takes an accepted socket, sends the server SETTINGS and starts reading;
  // with `tls`, after a TLS handshake (server side) with that context.
  static absl::StatusOr<std::unique_ptr<DownstreamConnection>> Create(
      CallContext& context, ScopedFd fd, const TlsContext* tls = nullptr);
  ~DownstreamConnection() override;

  // Submits response headers; the body and trailers are then read through
  // Call::ReadResponseData() when `with_body`, else the headers end the
  // stream (a trailers-only response).
  void SubmitResponse(int32_t stream_id, const NvArray& headers,
                      bool with_body);
  // Submits trailers; only from inside Call::ReadResponseData().
  void SubmitTrailers(int32_t stream_id, const NvArray& trailers);
  // Asks nghttp2 to read response DATA again after it was deferred.
  void ResumeData(int32_t stream_id);
  // Returns `length` request bytes of the stream to the flow-control window.
  void Consume(int32_t stream_id, size_t length);
  // Resets the stream with `error_code`.
  void ResetStream(int32_t stream_id, uint32_t error_code);

  // Stops taking new calls (GOAWAY); the connection closes once its calls
  // are done.
  void Drain();
  // How many calls are in progress.
  size_t active_calls() const { return calls_.size(); }

 protected:
  void Closed(absl::string_view reason) override;

 private:
  DownstreamConnection(CallContext& context, ScopedFd fd);
  Call* FindCall(int32_t stream_id) const;

  static nghttp2_session_callbacks* Callbacks();
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                      const uint8_t*, size_t, uint8_t, void*);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnFrameSend(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnDataChunkRecv(nghttp2_session*, uint8_t, int32_t, const uint8_t*,
                             size_t, void*);
  static int OnStreamClose(nghttp2_session*, int32_t, uint32_t, void*);
  static ssize_t ReadData(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                          nghttp2_data_source*, void*);

  CallContext& context_;
  absl::flat_hash_map<int32_t, std::unique_ptr<Call>> calls_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_PROXY_DOWNSTREAM_CONNECTION_H_
