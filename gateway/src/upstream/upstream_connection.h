// One HTTP/2 (h2c) client connection from a worker to one upstream endpoint,
// carrying the upstream halves of many calls as streams.
//
// The connection opens lazily and without blocking; streams asked for while
// it connects wait in a queue and start when it is ready, or fail with it.
// Once the upstream sends GOAWAY or the connection fails, it takes no new
// streams (usable() is false) and the pool opens another one. After a
// GOAWAY, streams up to its last_stream_id finish; streams above it (which
// the upstream never processed) fail with refused=true, as do streams the
// upstream resets with REFUSED_STREAM, so that their calls may move.
//
// The connection tells its listener (the worker's pool of the endpoint)
// whether it connected, how many streams use it, and each stream's outcome
// as outlier detection counts it (UNAVAILABLE, a reset or a lost
// connection is a failure; any other grpc-status a success).
//
// Usage (what a call does):
//
//   conn->Attach(&callbacks);          // -> callbacks.OnUpstreamReady()
//   // in OnUpstreamReady():
//   absl::StatusOr<int32_t> id = conn->Submit(nva, /*has_body=*/true, &callbacks);
//   conn->ResumeData(*id);             // when request bytes arrive
//   conn->Consume(*id, n);             // when response bytes were passed on
//   conn->Cancel(*id, NGHTTP2_CANCEL); // when the call is abandoned
#ifndef POLYMESH_GATEWAY_SRC_UPSTREAM_UPSTREAM_CONNECTION_H_
#define POLYMESH_GATEWAY_SRC_UPSTREAM_UPSTREAM_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transport/headers.h"
#include "config/tls_options.h"
#include "transport/http2_connection.h"

namespace polymesh::gateway {

// The events of one upstream stream, implemented by the call that owns it.
// After OnUpstreamFailure() or OnUpstreamClose() no further event comes.
class UpstreamStreamCallbacks {
 public:
  virtual ~UpstreamStreamCallbacks() = default;
  // The connection is ready: the call should Submit() its request now.
  virtual void OnUpstreamReady() = 0;
  // The connection could not be made, or was lost while the stream was
  // open; the call should fail with UNAVAILABLE and `message`, or try
  // again elsewhere. `refused` is true when the upstream surely did not
  // process the stream (the connection failed before the stream was
  // submitted, or the peer refused it), so that even a call that is not
  // idempotent may move to another connection.
  virtual void OnUpstreamFailure(absl::string_view message, bool refused) = 0;
  // One field of the response headers or trailers.
  virtual void OnUpstreamHeader(absl::string_view name, absl::string_view value) = 0;
  // The end of a header block: the response headers (`trailers` false) or
  // the trailers; `end_stream` when the block ends the response.
  virtual void OnUpstreamHeadersEnd(bool trailers, bool end_stream) = 0;
  // Response DATA bytes, to be passed on and then Consume()d.
  virtual void OnUpstreamData(const uint8_t* data, size_t length) = 0;
  // The stream closed; `error_code` is the HTTP/2 error code of a
  // RST_STREAM (NGHTTP2_NO_ERROR for a normal close).
  virtual void OnUpstreamClose(uint32_t error_code) = 0;
  // Fills `buffer` with request DATA bytes (nghttp2 data provider
  // semantics: bytes copied, or NGHTTP2_ERR_DEFERRED, with
  // NGHTTP2_DATA_FLAG_EOF in `flags` at the end).
  virtual ssize_t ReadUpstreamData(uint8_t* buffer, size_t length, uint32_t* flags) = 0;
};

// Where an upstream connection goes.
struct UpstreamEndpoint {
  // The cluster the endpoint belongs to (for messages).
  std::string cluster;
  // The address as configured, a host name or numeric IP (for messages and
  // the server.address of spans).
  std::string host;
  // What to connect to: a numeric IP address (one of `host`'s, resolved at
  // start) or "localhost".
  std::string address;
  // The TCP port.
  uint16_t port = 0;
  // How long connecting may take (with TLS, the handshake included).
  absl::Duration connect_timeout = absl::Seconds(1);
  // TLS to the endpoint; nullptr: plaintext.
  std::shared_ptr<const UpstreamTlsSpec> tls;
};

class UpstreamConnection;

// What a connection reports to its owner. Called on the loop thread, from
// inside the connection's own callbacks: do not destroy or close the
// connection from them.
class UpstreamConnectionListener {
 public:
  virtual ~UpstreamConnectionListener() = default;
  // The TCP connection was established.
  virtual void OnConnected(UpstreamConnection& connection) = 0;
  // The connection failed before it was established (refused, timed out,
  // unreachable); `reason` says why. OnClosed-style cleanup still follows
  // through the close callback.
  virtual void OnConnectFailed(UpstreamConnection& connection, absl::string_view reason) = 0;
  // active_streams() changed by `delta`.
  virtual void OnStreamsChanged(UpstreamConnection& connection, int64_t delta) = 0;
  // A stream ended by the upstream's doing: `failure` when outlier
  // detection counts it as one.
  virtual void OnStreamOutcome(UpstreamConnection& connection, bool failure) = 0;
};

// An HTTP/2 client connection to one endpoint.
class UpstreamConnection : public Http2Connection {
 public:
  // Starts connecting to `endpoint`, reporting to `listener` (may be
  // nullptr; it must outlive the connection or be cleared with
  // set_listener(nullptr)). A connect that fails at once leaves a closed
  // connection that fails every Attach() (the listener hears
  // OnConnectFailed() before this returns).
  static std::unique_ptr<UpstreamConnection> Connect(
      EventLoop& loop, const UpstreamEndpoint& endpoint,
      UpstreamConnectionListener* listener = nullptr);
  // A closed connection that fails every Attach() with refused=true and
  // `reason` (an endpoint that is not being connected to right now).
  static std::unique_ptr<UpstreamConnection> Failed(EventLoop& loop,
                                                    const UpstreamEndpoint& endpoint,
                                                    absl::string_view reason);
  ~UpstreamConnection() override;

  // Replaces the listener (nullptr: none).
  void set_listener(UpstreamConnectionListener* listener) { listener_ = listener; }
  // Whether the connection is still being established.
  bool connecting() const { return connecting_ && !closed(); }
  // Whether the connection was established at some point.
  bool was_connected() const { return connected_; }
  // How many streams the upstream lets this connection have open at once
  // (its SETTINGS_MAX_CONCURRENT_STREAMS; unlimited until it says).
  uint32_t max_concurrent_streams() const;

  // Whether new streams may use this connection (not closed, not failed,
  // no GOAWAY received).
  bool usable() const { return !closed() && !goaway_received_; }
  // The endpoint this connection goes to.
  const UpstreamEndpoint& endpoint() const { return endpoint_; }
  // "cluster \"name\" endpoint address:port", for messages.
  const std::string& description() const { return description_; }
  // How many streams use or wait for the connection.
  size_t active_streams() const { return streams_.size() + pending_.size(); }

  // Asks for a stream: calls `callbacks->OnUpstreamReady()` now when the
  // connection is ready, or later when it becomes ready; or
  // OnUpstreamFailure() (possibly now) when it cannot be made.
  void Attach(UpstreamStreamCallbacks* callbacks);
  // Withdraws a request for a stream that has not started yet.
  void Detach(UpstreamStreamCallbacks* callbacks);
  // Submits a request on a ready connection; returns the stream id. The
  // request body is read through callbacks->ReadUpstreamData() when
  // `has_body`.
  absl::StatusOr<int32_t> Submit(const NvArray& headers,
                                 bool has_body, UpstreamStreamCallbacks* callbacks);
  // Asks nghttp2 to read request DATA again after ReadUpstreamData() deferred.
  void ResumeData(int32_t stream_id);
  // Returns `length` response bytes of the stream to the flow-control window.
  void Consume(int32_t stream_id, size_t length);
  // Detaches the stream's callbacks and resets the stream with `error_code`.
  void Cancel(int32_t stream_id, uint32_t error_code);

  // Handles connect completion, then reads and writes (IoHandler).
  void OnIoEvent(uint32_t events) override;

 protected:
  void Closed(absl::string_view reason) override;
  // With TLS: the handshake finished, so the connection is established.
  void HandshakeDone() override;

 private:
  // A submitted stream: its call, the grpc-status seen in its headers or
  // trailers (-1 until one is), whether the header block being received
  // is an informational (1xx) response, and whether the final response
  // headers have come (a later block is the trailers; nghttp2's category
  // says "headers" for the final response after a 1xx too).
  struct Stream {
    UpstreamStreamCallbacks* callbacks;
    int grpc_status = -1;
    bool informational = false;
    bool response_received = false;
  };

  UpstreamConnection(EventLoop& loop, ScopedFd fd, const UpstreamEndpoint& endpoint,
                     UpstreamConnectionListener* listener);
  void OnConnected();
  UpstreamStreamCallbacks* StreamCallbacks(int32_t stream_id) const;
  // Tells the listener how active_streams() changed since the last call.
  void SyncStreams();
  // Fails a submitted stream with refused=true (the upstream did not
  // process it).
  void RefuseStream(int32_t stream_id, absl::string_view why);

  static nghttp2_session_callbacks* Callbacks();
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                      const uint8_t*, size_t, uint8_t, void*);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnDataChunkRecv(nghttp2_session*, uint8_t, int32_t, const uint8_t*,
                             size_t, void*);
  static int OnStreamClose(nghttp2_session*, int32_t, uint32_t, void*);
  static int OnFrameNotSend(nghttp2_session*, const nghttp2_frame*, int, void*);
  static ssize_t ReadData(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                          nghttp2_data_source*, void*);

  const UpstreamEndpoint endpoint_;
  const std::string description_;
  UpstreamConnectionListener* listener_;
  // Connecting lasts until the TCP connection is up and, with TLS, the
  // handshake has finished.
  bool connecting_ = true;
  bool tcp_connected_ = false;
  bool connected_ = false;
  bool goaway_received_ = false;
  int32_t goaway_last_stream_id_ = 0;
  std::string failure_;
  Timer connect_timer_;
  std::vector<UpstreamStreamCallbacks*> pending_;
  absl::flat_hash_map<int32_t, Stream> streams_;
  // active_streams() as last told to the listener.
  size_t reported_streams_ = 0;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_UPSTREAM_UPSTREAM_CONNECTION_H_
