#include "transport/http2_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

Http2Connection::Http2Connection(EventLoop& loop, ScopedFd fd)
    : loop_(loop), fd_(std::move(fd)) {}

Http2Connection::~Http2Connection() {
  if (registered_) loop_.Remove(fd_.get());
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

void Http2Connection::UpdateInterest() {
  const bool want_write = output_offset_ < output_.size();
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
  if (events & EPOLLOUT) Flush();
}

void Http2Connection::Read() {
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
    const ssize_t written = send(fd_.get(), output_.data() + output_offset_,
                                 output_.size() - output_offset_, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      Close(absl::StrCat("write error: ", std::strerror(errno)));
      return;
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

void Http2Connection::Close(absl::string_view reason) {
  if (closed_) return;
  closed_ = true;
  if (registered_) {
    loop_.Remove(fd_.get());
    registered_ = false;
  }
  fd_.reset();
  Closed(reason);
  if (on_close_) on_close_(this);
}

}  // namespace polymesh::gateway
