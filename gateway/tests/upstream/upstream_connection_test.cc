// One upstream connection against a real HTTP/2 server on loopback: after
// the server's GOAWAY, the stream it processed finishes and the stream above
// last_stream_id fails with refused=true (so a call may move elsewhere); the
// response headers after an informational response are not trailers.
#include "upstream/upstream_connection.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "goaway_server.h"
#include "gtest/gtest.h"
#include "transport/event_loop.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;

// One stream's events; ends the loop when `remaining` reaches zero.
class Stream : public UpstreamStreamCallbacks {
 public:
  Stream(UpstreamConnection& connection, EventLoop& loop, int& remaining)
      : connection_(connection), loop_(loop), remaining_(remaining) {}

  void OnUpstreamReady() override {
    static const nghttp2_nv kRequest[] = {
        {(uint8_t*)":method", (uint8_t*)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)":scheme", (uint8_t*)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)":path", (uint8_t*)"/a.B/C", 5, 6, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)":authority", (uint8_t*)"test", 10, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)"content-type", (uint8_t*)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
    };
    absl::StatusOr<int32_t> id = connection_.Submit(
        NvArray(std::begin(kRequest), std::end(kRequest)), false, this);
    ASSERT_TRUE(id.ok()) << id.status();
    id_ = *id;
  }
  void OnUpstreamFailure(absl::string_view message, bool refused) override {
    failed = true;
    this->refused = refused;
    this->message = std::string(message);
    Done();
  }
  void OnUpstreamHeader(absl::string_view name, absl::string_view value) override {
    if (name == "grpc-status") grpc_status = std::string(value);
  }
  void OnUpstreamHeadersEnd(bool trailers, bool end_stream) override {
    header_blocks.push_back({trailers, end_stream});
  }
  void OnUpstreamData(const uint8_t*, size_t length) override {
    connection_.Consume(id_, length);
  }
  void OnUpstreamClose(uint32_t error_code) override {
    closed = true;
    close_code = error_code;
    Done();
  }
  ssize_t ReadUpstreamData(uint8_t*, size_t, uint32_t* flags) override {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }

  bool failed = false;
  bool refused = false;
  bool closed = false;
  uint32_t close_code = 0;
  std::string message;
  std::string grpc_status;
  // Each header block's end: (trailers, end_stream).
  std::vector<std::pair<bool, bool>> header_blocks;

 private:
  void Done() {
    if (--remaining_ == 0) loop_.Exit();
  }

  UpstreamConnection& connection_;
  EventLoop& loop_;
  int& remaining_;
  int32_t id_ = 0;
};

class Listener : public UpstreamConnectionListener {
 public:
  void OnConnected(UpstreamConnection&) override { ++connected; }
  void OnConnectFailed(UpstreamConnection&, absl::string_view) override { ++connect_failed; }
  void OnStreamsChanged(UpstreamConnection&, int64_t delta) override { streams += delta; }
  void OnStreamOutcome(UpstreamConnection&, bool failure) override {
    ++(failure ? failures : successes);
  }
  int connected = 0, connect_failed = 0, successes = 0, failures = 0;
  int64_t streams = 0;
};

TEST(UpstreamConnectionTest, GoawayFinishesProcessedStreamsAndRefusesTheRest) {
  testing::GoawayServer server(/*batch=*/2, /*answered=*/1);
  std::unique_ptr<EventLoop> loop = std::move(*EventLoop::Create());
  Listener listener;
  std::unique_ptr<UpstreamConnection> connection = UpstreamConnection::Connect(
      *loop, UpstreamEndpoint{"c", "127.0.0.1", "127.0.0.1", server.port()}, &listener);
  int remaining = 2;
  Stream first(*connection, *loop, remaining);
  Stream second(*connection, *loop, remaining);
  connection->Attach(&first);
  connection->Attach(&second);
  EXPECT_EQ(listener.streams, 2);
  Timer guard(*loop, [&loop] { loop->Exit(); });
  guard.Enable(absl::Seconds(20));
  loop->Run();
  guard.Disable();

  EXPECT_EQ(listener.connected, 1);
  EXPECT_TRUE(first.closed);
  EXPECT_EQ(first.close_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(first.grpc_status, "0");
  EXPECT_TRUE(second.failed);
  EXPECT_TRUE(second.refused);
  EXPECT_THAT(second.message, HasSubstr("cluster \"c\" endpoint 127.0.0.1:"));
  EXPECT_FALSE(connection->usable());
  EXPECT_EQ(listener.streams, 0);
  // An orderly shutdown is no outlier failure.
  EXPECT_EQ(listener.successes, 1);
  EXPECT_EQ(listener.failures, 0);
  connection->set_listener(nullptr);
  connection.reset();
  loop->RunPendingWork();
}

TEST(UpstreamConnectionTest, HeadersAfterAnInformationalResponseAreNotTrailers) {
  // 100 (Continue), then the response headers, a message and the trailers:
  // nghttp2 files the second block under the category of trailers, which
  // once made a call answer at once with empty trailers and no grpc-status.
  testing::GoawayServer server(/*batch=*/1, /*answered=*/1, /*informational=*/true);
  std::unique_ptr<EventLoop> loop = std::move(*EventLoop::Create());
  Listener listener;
  std::unique_ptr<UpstreamConnection> connection = UpstreamConnection::Connect(
      *loop, UpstreamEndpoint{"c", "127.0.0.1", "127.0.0.1", server.port()}, &listener);
  int remaining = 1;
  Stream stream(*connection, *loop, remaining);
  connection->Attach(&stream);
  Timer guard(*loop, [&loop] { loop->Exit(); });
  guard.Enable(absl::Seconds(20));
  loop->Run();
  guard.Disable();

  EXPECT_TRUE(stream.closed);
  EXPECT_EQ(stream.grpc_status, "0");
  // (trailers, end_stream) of each block: 100, 200, trailers.
  EXPECT_THAT(stream.header_blocks, ::testing::ElementsAre(std::pair(false, false),
                                                           std::pair(false, false),
                                                           std::pair(true, true)));
  connection->set_listener(nullptr);
  connection.reset();
  loop->RunPendingWork();
}

TEST(UpstreamConnectionTest, RefusedConnectIsReportedAndFailsStreamsAsRefused) {
  // A port that was just free: nothing listens there.
  uint16_t port;
  {
    ScopedFd probe = std::move(*ListenTcp("127.0.0.1", 0));
    port = *LocalPort(probe.get());
  }
  std::unique_ptr<EventLoop> loop = std::move(*EventLoop::Create());
  Listener listener;
  std::unique_ptr<UpstreamConnection> connection = UpstreamConnection::Connect(
      *loop, UpstreamEndpoint{"c", "127.0.0.1", "127.0.0.1", port}, &listener);
  int remaining = 1;
  Stream stream(*connection, *loop, remaining);
  connection->Attach(&stream);
  if (remaining > 0) {
    Timer guard(*loop, [&loop] { loop->Exit(); });
    guard.Enable(absl::Seconds(20));
    loop->Run();
  }
  EXPECT_TRUE(stream.failed);
  EXPECT_TRUE(stream.refused);
  EXPECT_EQ(listener.connect_failed, 1);
  EXPECT_EQ(listener.connected, 0);
  EXPECT_EQ(listener.streams, 0);
  connection->set_listener(nullptr);
  connection.reset();
  loop->RunPendingWork();
}

}  // namespace
}  // namespace polymesh::gateway
