// A test HTTP/2 server (nghttp2, a thread per connection, on 127.0.0.1 port
// 0) that shuts every connection down gracefully: it waits for `batch`
// requests, answers the first `answered` of them with an empty gRPC OK
// response, sends GOAWAY with the last of those as last_stream_id (the rest
// are never processed), then half-closes and waits for the client to go.
// With `informational`, each answer starts with a 100 (Continue) response.
#ifndef POLYMESH_GATEWAY_TEST_UPSTREAM_GOAWAY_SERVER_H_
#define POLYMESH_GATEWAY_TEST_UPSTREAM_GOAWAY_SERVER_H_

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/socket.h"

namespace polymesh::gateway::testing {

class GoawayServer {
 public:
  GoawayServer(int batch, int answered, bool informational = false)
      : batch_(batch), answered_(answered), informational_(informational) {
    listener_ = std::move(*ListenTcp("127.0.0.1", 0));
    port_ = *LocalPort(listener_.get());
    accept_thread_ = std::thread([this] { Accept(); });
  }
  ~GoawayServer() {
    shutdown(listener_.get(), SHUT_RDWR);
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& thread : threads_) thread.join();
    for (int fd : fds_) close(fd);
  }

  // The port it listens on.
  uint16_t port() const { return port_; }
  // Connections accepted so far.
  int connections() const { return connections_.load(); }
  // Requests answered so far.
  int responses() const { return responses_.load(); }

 private:
  struct Connection {
    GoawayServer* server;
    nghttp2_session* session = nullptr;
    std::vector<int32_t> received;
  };

  void Accept() {
    while (true) {
      pollfd poll_fd{listener_.get(), POLLIN, 0};
      if (poll(&poll_fd, 1, -1) <= 0 || (poll_fd.revents & (POLLERR | POLLHUP))) return;
      const int fd = accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      ++connections_;
      std::lock_guard<std::mutex> lock(mutex_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static ssize_t ReadBody(nghttp2_session* session, int32_t stream_id, uint8_t* buffer,
                          size_t length, uint32_t* flags, nghttp2_data_source*, void*) {
    // One empty gRPC message (uncompressed, length 0), then the trailers.
    for (int i = 0; i < 5 && static_cast<size_t>(i) < length; ++i) buffer[i] = 0;
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    static const nghttp2_nv kTrailers[] = {
        {(uint8_t*)"grpc-status", (uint8_t*)"0", 11, 1, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_submit_trailer(session, stream_id, kTrailers, 1);
    return 5;
  }

  void Serve(int fd) {
    Connection connection{this};
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          auto* c = static_cast<Connection*>(user);
          if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
              (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
            c->received.push_back(frame->hd.stream_id);
          }
          return 0;
        });
    nghttp2_session_server_new(&connection.session, callbacks, &connection);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_session* session = connection.session;
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
    bool done = false;
    uint8_t buffer[16384];
    while (true) {
      const uint8_t* data;
      ssize_t length;
      while ((length = nghttp2_session_mem_send(session, &data)) > 0) {
        if (send(fd, data, length, MSG_NOSIGNAL) != length) break;
      }
      if (!done && static_cast<int>(connection.received.size()) >= batch_) {
        done = true;
        static const nghttp2_nv kHeaders[] = {
            {(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
            {(uint8_t*)"content-type", (uint8_t*)"application/grpc", 12, 16,
             NGHTTP2_NV_FLAG_NONE}};
        nghttp2_data_provider provider{};
        provider.read_callback = &ReadBody;
        static const nghttp2_nv kContinue[] = {
            {(uint8_t*)":status", (uint8_t*)"100", 7, 3, NGHTTP2_NV_FLAG_NONE}};
        for (int i = 0; i < answered_; ++i) {
          if (informational_) {
            nghttp2_submit_headers(session, NGHTTP2_FLAG_NONE, connection.received[i], nullptr,
                                   kContinue, 1, nullptr);
          }
          nghttp2_submit_response(session, connection.received[i], kHeaders, 2, &provider);
          ++responses_;
        }
        nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, connection.received[answered_ - 1],
                              NGHTTP2_NO_ERROR, nullptr, 0);
        // The responses and the GOAWAY in one write, so that the client
        // reads them together.
        std::string out;
        while ((length = nghttp2_session_mem_send(session, &data)) > 0) {
          out.append(reinterpret_cast<const char*>(data), length);
        }
        (void)send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
      }
      const ssize_t count = read(fd, buffer, sizeof(buffer));
      if (count <= 0) break;
      if (!done && nghttp2_session_mem_recv(session, buffer, count) < 0) break;
    }
    nghttp2_session_del(session);
  }

  const int batch_;
  const int answered_;
  const bool informational_;
  ScopedFd listener_;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> responses_{0};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

}  // namespace polymesh::gateway::testing

#endif  // POLYMESH_GATEWAY_TEST_UPSTREAM_GOAWAY_SERVER_H_
