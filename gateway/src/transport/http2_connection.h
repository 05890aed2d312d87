// The transport half shared by downstream and upstream HTTP/2 connections:
// a non-blocking socket on an event loop, feeding an nghttp2 session and
// writing its output with bounded buffering.
//
// Output is produced only while less than kOutputHighWater bytes wait to be
// written, so a peer that reads slowly stops nghttp2 from producing DATA,
// which in turn stops the bridge from consuming (and so from granting
// window to) the other side.
//
// Subclasses make the session (server or client) and react to Closed().
//
// Usage (in a subclass):
//
//   nghttp2_session_server_new2(&session_, callbacks, this, options);
//   StartIo();                 // registers the socket with the loop
//   ScheduleFlush();           // after submitting frames
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_HTTP2_CONNECTION_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_HTTP2_CONNECTION_H_

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "transport/event_loop.h"
#include "transport/socket.h"

namespace polymesh::gateway {

// The initial stream window both sessions advertise: the most a stream may
// have buffered in the gateway per direction.
inline constexpr int32_t kStreamWindow = 64 * 1024;
// The connection window: large, so that one slow stream does not stall the
// others on the same connection.
inline constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
// The most output bytes buffered per connection before nghttp2 is asked for
// more.
inline constexpr size_t kOutputHighWater = 64 * 1024;

// A socket bridged to an nghttp2 session on one event loop.
class Http2Connection : public IoHandler,
                        public Flushable,
                        public DeferredDeletable {
 public:
  // Called once when the connection has closed; the owner should release it
  // to loop.DeferDelete().
  using CloseCallback = std::function<void(Http2Connection*)>;

  ~Http2Connection() override;
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Sets what to call when the connection closes.
  void set_close_callback(CloseCallback callback) { on_close_ = std::move(callback); }
  // Schedules writing of the session's pending frames.
  void ScheduleFlush() {
    if (!closed_) loop_.ScheduleFlush(this);
  }
  // Whether the connection has closed.
  bool closed() const { return closed_; }
  // The nghttp2 session (nullptr before it is made).
  nghttp2_session* session() const { return session_; }
  // The loop the connection runs on.
  EventLoop& loop() const { return loop_; }

  // Writes what the session has to send (Flushable).
  void Flush() override;
  // Handles socket readiness (IoHandler).
  void OnIoEvent(uint32_t events) override;

  // Closes the socket and the session now; `reason` says why (for logs and
  // for the calls that fail with it).
  void Close(absl::string_view reason);

 protected:
  Http2Connection(EventLoop& loop, ScopedFd fd);

  // Registers the socket with the loop for reading (and writing when
  // `want_write`).
  absl::Status StartIo(bool want_write);
  // Called once from Close(), before the close callback.
  virtual void Closed(absl::string_view reason) = 0;

  // The socket.
  int fd() const { return fd_.get(); }

  // The session, owned; deleted with the connection.
  nghttp2_session* session_ = nullptr;

 private:
  void Read();
  void UpdateInterest();

  EventLoop& loop_;
  ScopedFd fd_;
  bool closed_ = false;
  bool registered_ = false;
  bool want_write_ = false;
  std::string output_;
  size_t output_offset_ = 0;
  CloseCallback on_close_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_HTTP2_CONNECTION_H_
