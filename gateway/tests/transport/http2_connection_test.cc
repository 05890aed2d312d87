// The connection's life on its loop: a connection destroyed directly (as a
// worker's teardown destroys its downstream connections, whose calls may
// still return flow-control window and so schedule a flush) leaves no flush
// of itself behind.
#include "transport/http2_connection.h"

#include <sys/socket.h>

#include <memory>
#include <utility>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "transport/event_loop.h"
#include "transport/socket.h"

namespace polymesh::gateway {
namespace {

// A connection whose subclass, like DownstreamConnection's calls, schedules
// a flush of it while being destroyed.
class FlushingOnDestruction : public Http2Connection {
 public:
  FlushingOnDestruction(EventLoop& loop, ScopedFd fd) : Http2Connection(loop, std::move(fd)) {}
  ~FlushingOnDestruction() override { ScheduleFlush(); }

 protected:
  void Closed(absl::string_view) override {}
};

TEST(Http2ConnectionTest, ADestroyedConnectionLeavesNoFlushBehind) {
  std::unique_ptr<EventLoop> loop = *EventLoop::Create();
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  ScopedFd peer(fds[1]);
  auto connection = std::make_unique<FlushingOnDestruction>(*loop, ScopedFd(fds[0]));
  connection->ScheduleFlush();
  EXPECT_EQ(loop->ScheduledFlushesForTest(), 1u);
  connection.reset();
  EXPECT_EQ(loop->ScheduledFlushesForTest(), 0u);
  // A flush left behind would run on the freed connection here.
  loop->RunPendingWork();
}

}  // namespace
}  // namespace polymesh::gateway
