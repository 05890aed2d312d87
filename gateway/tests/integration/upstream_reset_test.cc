// An upstream that resets every stream: the client sees the status the
// gRPC HTTP/2 spec maps the RST_STREAM code to.
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/gateway.h"
#include "transport/socket.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;

// A bare HTTP/2 server (nghttp2, blocking socket, one thread per connection)
// that answers every request with RST_STREAM(error_code).
class ResettingServer {
 public:
  explicit ResettingServer(uint32_t error_code) : error_code_(error_code) {
    listener_ = std::move(*ListenTcp("127.0.0.1", 0));
    port_ = *LocalPort(listener_.get());
    thread_ = std::thread([this] { Serve(); });
  }
  ~ResettingServer() {
    shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    while (true) {
      pollfd poll_fd{listener_.get(), POLLIN, 0};
      if (poll(&poll_fd, 1, -1) <= 0 || (poll_fd.revents & (POLLERR | POLLHUP))) return;
      const int fd = accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      ServeConnection(fd);
      close(fd);
    }
  }

  void ServeConnection(int fd) {
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks, [](nghttp2_session* session, const nghttp2_frame* frame, void* self) {
          if (frame->hd.type == NGHTTP2_HEADERS &&
              frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                      static_cast<ResettingServer*>(self)->error_code_);
          }
          return 0;
        });
    nghttp2_session* session;
    nghttp2_session_server_new(&session, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
    uint8_t buffer[16384];
    while (true) {
      const uint8_t* data;
      ssize_t length;
      while ((length = nghttp2_session_mem_send(session, &data)) > 0) {
        if (send(fd, data, length, MSG_NOSIGNAL) != length) break;
      }
      const ssize_t count = read(fd, buffer, sizeof(buffer));
      if (count <= 0 || nghttp2_session_mem_recv(session, buffer, count) < 0) break;
    }
    nghttp2_session_del(session);
  }

  const uint32_t error_code_;
  ScopedFd listener_;
  uint16_t port_ = 0;
  std::thread thread_;
};

grpc::Status CallThroughGateway(uint32_t error_code) {
  ResettingServer upstream(error_code);
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(
      absl::StrCat("listener: { address: 127.0.0.1, port: 0 }\nworkers: 1\n"
                   "clusters: [{ name: resets, endpoints: [{ address: 127.0.0.1, port: ",
                   upstream.port(),
                   " }] }]\n"
                   "routes: [{ name: all, match: { service: a.B }, cluster: resets }]\n"),
      "test.yaml");
  EXPECT_TRUE(config.ok()) << config.status().message();
  absl::StatusOr<std::unique_ptr<Gateway>> gateway = Gateway::Start(*config, nullptr);
  EXPECT_TRUE(gateway.ok()) << gateway.status().message();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*gateway)->port()),
                                     grpc::InsecureChannelCredentials());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::internal::RpcMethod method("/a.B/C", grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), method, &context, request, &response);
  (*gateway)->Stop(absl::Seconds(1));
  return status;
}

TEST(UpstreamResetTest, RefusedStreamIsUnavailable) {
  grpc::Status status = CallThroughGateway(NGHTTP2_REFUSED_STREAM);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("cluster \"resets\""));
  EXPECT_THAT(status.error_message(), HasSubstr("reset the stream"));
}

TEST(UpstreamResetTest, CancelIsCancelled) {
  EXPECT_EQ(CallThroughGateway(NGHTTP2_CANCEL).error_code(), grpc::StatusCode::CANCELLED);
}

TEST(UpstreamResetTest, EnhanceYourCalmIsResourceExhausted) {
  EXPECT_EQ(CallThroughGateway(NGHTTP2_ENHANCE_YOUR_CALM).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(UpstreamResetTest, InadequateSecurityIsPermissionDenied) {
  EXPECT_EQ(CallThroughGateway(NGHTTP2_INADEQUATE_SECURITY).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST(UpstreamResetTest, OtherCodesAreInternal) {
  EXPECT_EQ(CallThroughGateway(NGHTTP2_PROTOCOL_ERROR).error_code(),
            grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace polymesh::gateway
