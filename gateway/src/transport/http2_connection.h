// The transport half shared by downstream and upstream HTTP/2 connections:
// a non-blocking socket on an event loop, feeding an nghttp2 session and
// writing its output with bounded buffering.
//
// Output is produced only while less than kOutputHighWater bytes wait to be
// written, so a peer that reads slowly stops nghttp2 from producing DATA,
// which in turn stops the bridge from consuming (and so from granting
// window to) the other side.
//
// A connection is plaintext, or TLS (server side) after StartTls(): OpenSSL
// then reads and writes the socket itself, and a WANT_READ or WANT_WRITE is
// waited for on the loop like EAGAIN. The plaintext path tests whether an
// SSL is set once per read and once per write.
//
// Subclasses make the session (server or client) and react to Closed().
//
// Usage (in a subclass):
//
//   nghttp2_session_server_new2(&session_, callbacks, this, options);
//   StartTls(*tls_context);    // only for a TLS connection, before StartIo()
//   StartIo();                 // registers the socket with the loop
//   ScheduleFlush();           // after submitting frames
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_HTTP2_CONNECTION_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_HTTP2_CONNECTION_H_

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "transport/event_loop.h"
#include "transport/socket.h"
#include "transport/tls_context.h"

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
  // Whether this is a TLS connection whose handshake has not finished.
  bool tls_handshaking() const { return ssl_ != nullptr && !handshake_done_; }
  // The principal of the peer's verified client certificate (see
  // CertificatePrincipal); empty for plaintext, before the handshake, or
  // without a client certificate.
  const std::string& peer_principal() const { return peer_principal_; }
  // The peer's IP address (PeerIpAddress), read once.
  const std::string& peer_ip();
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
  // Makes this a TLS connection with `context`; call before StartIo(). The
  // server side waits for the client's handshake, which runs as the socket
  // becomes ready. With `server_name`, this is the client side: it checks
  // that the server's certificate names `server_name` (a DNS name or an IP
  // address), sends it as SNI (unless it is an address), and starts the
  // handshake at once.
  absl::Status StartTls(const TlsContext& context, const std::string* server_name = nullptr);
  // Called once the TLS handshake has finished (and ALPN "h2" was agreed),
  // before any application data is read.
  virtual void HandshakeDone() {}
  // Called once from Close(), before the close callback.
  virtual void Closed(absl::string_view reason) = 0;

  // The socket.
  int fd() const { return fd_.get(); }

  // The session, owned; deleted with the connection.
  nghttp2_session* session_ = nullptr;

 private:
  void Read();
  void UpdateInterest();
  // The TLS halves of Read() and of the socket write in Flush().
  void ReadTls();
  bool FinishHandshake();
  // Writes up to `size` bytes with SSL_write: how many were written, 0 when
  // the socket must become ready first, -1 when the connection was closed.
  ssize_t WriteTls(const char* data, size_t size);

  EventLoop& loop_;
  ScopedFd fd_;
  bool closed_ = false;
  bool registered_ = false;
  bool want_write_ = false;
  std::string output_;
  size_t output_offset_ = 0;
  CloseCallback on_close_;
  // TLS only (ssl_ is nullptr for plaintext, and the flags stay false): the
  // handshake finished; a read waits for the socket to be writable; a write
  // waits for it to be readable (also until the handshake has finished);
  // the length of an SSL_write to repeat after WANT_READ or WANT_WRITE (0:
  // none).
  SSL* ssl_ = nullptr;
  bool handshake_done_ = false;
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  int pending_write_length_ = 0;
  // Set once, when the handshake finishes.
  std::string peer_principal_;
  // Read on first use.
  std::optional<std::string> peer_ip_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_HTTP2_CONNECTION_H_
