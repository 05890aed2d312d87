#include "transport/http2_connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

Http2Connection::Http2Connection(EventLoop& loop, ScopedFd fd)
    : loop_(loop), fd_(std::move(fd)) {}

Http2Connection::~Http2Connection() {
  // What a subclass's destructor ended (a downstream connection's calls)
  // may have scheduled a flush of this connection.
  loop_.CancelFlush(this);
  if (registered_) loop_.Remove(fd_.get());
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (session_ != nullptr) nghttp2_session_del(session_);
}

absl::Status Http2Connection::StartIo(bool want_write) {
  want_write_ = want_write;
  uint32_t events = EPOLLIN | EPOLLRDHUP;
  if (want_write) events |= EPOLLOUT;
  absl::Status status = loop_.Add(fd_.get(), events, this);
  registered_ = status.ok();
  return status;
}

absl::Status Http2Connection::StartTls(const TlsContext& context,
                                       const std::string* server_name) {
  // OpenSSL writes with write(2), which raises SIGPIPE when the peer has
  // closed: ignored once for the process (the gateway's main does so too),
  // so that an embedding process is not killed by a peer hanging up.
  static const bool sigpipe_ignored = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  ERR_clear_error();
  ssl_ = SSL_new(context.get());
  if (ssl_ == nullptr) return absl::InternalError(TlsErrorText("SSL_new failed"));
  if (SSL_set_fd(ssl_, fd_.get()) != 1) {
    return absl::InternalError(TlsErrorText("SSL_set_fd failed"));
  }
  // Output waits for the handshake, which reading drives.
  write_wants_read_ = true;
  if (server_name == nullptr) {
    SSL_set_accept_state(ssl_);
    return absl::OkStatus();
  }
  SSL_set_connect_state(ssl_);
  X509_VERIFY_PARAM* verify = SSL_get0_param(ssl_);
  if (X509_VERIFY_PARAM_set1_ip_asc(verify, server_name->c_str()) != 1) {
    ERR_clear_error();  // not an address: a DNS name
    if (SSL_set_tlsext_host_name(ssl_, server_name->c_str()) != 1 ||
        SSL_set1_host(ssl_, server_name->c_str()) != 1) {
      return absl::InvalidArgumentError(
          TlsErrorText(absl::StrCat("cannot verify the name \"", *server_name, "\"")));
    }
  }
  // The client speaks first: its hello goes out now.
  FinishHandshake();
  return absl::OkStatus();
}

void Http2Connection::UpdateInterest() {
  const bool want_write =
      (output_offset_ < output_.size() && !write_wants_read_) || read_wants_write_;
  if (want_write == want_write_ || !registered_) return;
  want_write_ = want_write;
  uint32_t events = EPOLLIN | EPOLLRDHUP;
  if (want_write) events |= EPOLLOUT;
  (void)loop_.Modify(fd_.get(), events, this);
}

void Http2Connection::OnIoEvent(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    Read();
    if (closed_) return;
  }
  if (events & EPOLLOUT) {
    if (read_wants_write_) {
      Read();
      if (closed_) return;
    }
    Flush();
  }
}

void Http2Connection::Read() {
  if (ssl_ != nullptr) {
    ReadTls();
    return;
  }
  uint8_t buffer[16384];
  // A bounded number of reads per event keeps one busy connection from
  // starving the others; level-triggered epoll brings the rest.
  for (int i = 0; i < 8; ++i) {
    const ssize_t count = read(fd_.get(), buffer, sizeof(buffer));
    if (count > 0) {
      const ssize_t used = nghttp2_session_mem_recv(session_, buffer, count);
      if (used < 0) {
        Close(absl::StrCat("HTTP/2 error: ", nghttp2_strerror(static_cast<int>(used))));
        return;
      }
      if (closed_) return;
      if (static_cast<size_t>(count) < sizeof(buffer)) break;
      continue;
    }
    if (count == 0) {
      Close("connection closed by peer");
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    Close(absl::StrCat("read error: ", std::strerror(errno)));
    return;
  }
  ScheduleFlush();
}

void Http2Connection::Flush() {
  if (closed_ || session_ == nullptr) return;
  while (true) {
    // Ask nghttp2 for frames while the buffer is below the high water mark.
    while (output_.size() - output_offset_ < kOutputHighWater) {
      const uint8_t* data = nullptr;
      const ssize_t count = nghttp2_session_mem_send(session_, &data);
      if (count < 0) {
        Close(absl::StrCat("HTTP/2 error: ", nghttp2_strerror(static_cast<int>(count))));
        return;
      }
      if (count == 0) break;
      if (output_offset_ == output_.size()) {
        output_.clear();
        output_offset_ = 0;
      }
      output_.append(reinterpret_cast<const char*>(data), count);
    }
    if (output_offset_ == output_.size()) break;
    ssize_t written;
    if (ssl_ == nullptr) {
      written = send(fd_.get(), output_.data() + output_offset_,
                     output_.size() - output_offset_, MSG_NOSIGNAL);
      if (written < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        Close(absl::StrCat("write error: ", std::strerror(errno)));
        return;
      }
    } else {
      written = WriteTls(output_.data() + output_offset_, output_.size() - output_offset_);
      if (written < 0) return;
      if (written == 0) break;
    }
    output_offset_ += written;
    if (output_offset_ == output_.size()) {
      output_.clear();
      output_offset_ = 0;
    } else {
      break;  // The socket is full: wait for EPOLLOUT.
    }
  }
  if (output_offset_ == output_.size() && !nghttp2_session_want_read(session_) &&
      !nghttp2_session_want_write(session_)) {
    Close("session finished");
    return;
  }
  UpdateInterest();
}

void Http2Connection::ReadTls() {
  read_wants_write_ = false;
  if (!handshake_done_ && !FinishHandshake()) return;
  write_wants_read_ = false;  // a waiting write is retried by the flush below
  uint8_t buffer[16384];
  // As for plaintext, a bounded number of reads per event, but never
  // leaving decrypted bytes in OpenSSL, where epoll cannot see them.
  for (int i = 0; i < 8 || SSL_has_pending(ssl_); ++i) {
    ERR_clear_error();
    errno = 0;
    const int count = SSL_read(ssl_, buffer, sizeof(buffer));
    if (count > 0) {
      const ssize_t used = nghttp2_session_mem_recv(session_, buffer, count);
      if (used < 0) {
        Close(absl::StrCat("HTTP/2 error: ", nghttp2_strerror(static_cast<int>(used))));
        return;
      }
      if (closed_) return;
      continue;
    }
    const int error = SSL_get_error(ssl_, count);
    if (error == SSL_ERROR_WANT_READ) break;
    if (error == SSL_ERROR_WANT_WRITE) {
      read_wants_write_ = true;
      break;
    }
    if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0)) {
      Close("connection closed by peer");
      return;
    }
    Close(absl::StrCat("TLS read error: ",
                       TlsErrorText(error == SSL_ERROR_SYSCALL ? std::strerror(errno)
                                                               : "protocol error")));
    return;
  }
  ScheduleFlush();
}

const std::string& Http2Connection::peer_ip() {
  if (!peer_ip_.has_value()) peer_ip_ = PeerIpAddress(fd_.get());
  return *peer_ip_;
}

bool Http2Connection::FinishHandshake() {
  ERR_clear_error();
  errno = 0;
  const int result = SSL_do_handshake(ssl_);
  if (result != 1) {
    const int error = SSL_get_error(ssl_, result);
    if (error == SSL_ERROR_WANT_READ) {
      UpdateInterest();
      return false;
    }
    if (error == SSL_ERROR_WANT_WRITE) {
      read_wants_write_ = true;
      UpdateInterest();
      return false;
    }
    // A certificate that did not verify says why in words ("certificate
    // has expired", "hostname mismatch").
    const long verify = SSL_get_verify_result(ssl_);
    Close(absl::StrCat("TLS handshake failed: ",
                       verify != X509_V_OK
                           ? absl::StrCat(X509_verify_cert_error_string(verify), ": ")
                           : "",
                       TlsErrorText(error == SSL_ERROR_SYSCALL && errno != 0
                                        ? std::strerror(errno)
                                        : "connection closed by peer")));
    return false;
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_length);
  if (absl::string_view(reinterpret_cast<const char*>(alpn), alpn_length) != kAlpnH2) {
    Close("TLS client did not negotiate ALPN h2");
    return false;
  }
  // With SSL_VERIFY_PEER a certificate that does not verify fails the
  // handshake; the check here keeps an unverified one from ever naming a
  // principal.
  if (SSL_get_verify_result(ssl_) == X509_V_OK) {
    peer_principal_ = CertificatePrincipal(SSL_get0_peer_certificate(ssl_));
  }
  handshake_done_ = true;
  HandshakeDone();
  return !closed_;
}

ssize_t Http2Connection::WriteTls(const char* data, size_t size) {
  // After WANT_READ or WANT_WRITE, OpenSSL wants the same length again (the
  // buffer may have moved: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
  if (!handshake_done_) return 0;  // write_wants_read_ is set until it is
  const int length = pending_write_length_ != 0
                         ? pending_write_length_
                         : static_cast<int>(std::min<size_t>(size, INT_MAX));
  ERR_clear_error();
  errno = 0;
  const int written = SSL_write(ssl_, data, length);
  if (written > 0) {
    pending_write_length_ = 0;
    return written;
  }
  const int error = SSL_get_error(ssl_, written);
  if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
    // WANT_WRITE waits for EPOLLOUT; WANT_READ for EPOLLIN, then ReadTls()
    // flushes again.
    pending_write_length_ = length;
    write_wants_read_ = error == SSL_ERROR_WANT_READ;
    return 0;
  }
  Close(absl::StrCat("TLS write error: ",
                     TlsErrorText(error == SSL_ERROR_SYSCALL && errno != 0
                                      ? std::strerror(errno)
                                      : "protocol error")));
  return -1;
}

void Http2Connection::Close(absl::string_view reason) {
  if (closed_) return;
  closed_ = true;
  if (registered_) {
    loop_.Remove(fd_.get());
    registered_ = false;
  }
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  fd_.reset();
  Closed(reason);
  if (on_close_) on_close_(this);
}

}  // namespace polymesh::gateway
