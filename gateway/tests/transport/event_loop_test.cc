#include "transport/event_loop.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "transport/socket.h"

namespace polymesh::gateway {
namespace {

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCanBeDisabled) {
  std::unique_ptr<EventLoop> loop = *EventLoop::Create();
  std::vector<int> fired;
  Timer late(*loop, [&] {
    fired.push_back(2);
    loop->Exit();
  });
  Timer early(*loop, [&] { fired.push_back(1); });
  Timer disabled(*loop, [&] { fired.push_back(3); });
  late.Enable(absl::Milliseconds(2));
  early.Enable(absl::ZeroDuration());
  disabled.Enable(absl::Milliseconds(1));
  disabled.Disable();
  EXPECT_FALSE(disabled.enabled());
  loop->Run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

TEST(EventLoopTest, PostRunsWorkFromAnotherThreadOnTheLoop) {
  std::unique_ptr<EventLoop> loop = *EventLoop::Create();
  std::thread::id ran_on;
  std::thread poster([&] {
    loop->Post([&] {
      ran_on = std::this_thread::get_id();
      loop->Exit();
    });
  });
  loop->Run();
  poster.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

class CountingFlush : public Flushable, public DeferredDeletable {
 public:
  explicit CountingFlush(int& count) : count_(count) {}
  void Flush() override { ++count_; }

 private:
  int& count_;
};

TEST(EventLoopTest, FlushesRunOnceAndDeletesAreDeferred) {
  std::unique_ptr<EventLoop> loop = *EventLoop::Create();
  int flushes = 0;
  auto target = std::make_unique<CountingFlush>(flushes);
  Timer timer(*loop, [&] {
    loop->ScheduleFlush(target.get());
    loop->ScheduleFlush(target.get());
    loop->DeferDelete(std::move(target));
    loop->Exit();
  });
  timer.Enable(absl::ZeroDuration());
  loop->Run();
  EXPECT_EQ(flushes, 1);
  EXPECT_EQ(target, nullptr);
}

TEST(EventLoopTest, ACancelledFlushDoesNotRun) {
  std::unique_ptr<EventLoop> loop = *EventLoop::Create();
  int flushes = 0;
  CountingFlush cancelled(flushes);
  int other_flushes = 0;
  CountingFlush other(other_flushes);
  loop->ScheduleFlush(&cancelled);
  loop->ScheduleFlush(&other);
  loop->CancelFlush(&cancelled);
  loop->CancelFlush(&cancelled);  // a no-op once cancelled
  EXPECT_EQ(loop->ScheduledFlushesForTest(), 1u);
  loop->RunPendingWork();
  EXPECT_EQ(flushes, 0);
  EXPECT_EQ(other_flushes, 1);
  // It can be scheduled again.
  loop->ScheduleFlush(&cancelled);
  loop->RunPendingWork();
  EXPECT_EQ(flushes, 1);
}

TEST(SocketTest, ReusePortLetsTwoListenersShareAChosenPort) {
  absl::StatusOr<ScopedFd> first = ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(first.ok()) << first.status().message();
  const uint16_t port = *LocalPort(first->get());
  absl::StatusOr<ScopedFd> second = ListenTcp("127.0.0.1", port);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(*LocalPort(second->get()), port);
  EXPECT_FALSE(ListenTcp("not-an-ip", 0).ok());
}

}  // namespace
}  // namespace polymesh::gateway
