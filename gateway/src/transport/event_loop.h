// A single-threaded event loop on epoll: file descriptor readiness, timers,
// work deferred to the end of the current iteration, and work posted from
// other threads.
//
// Each worker thread owns one loop; everything registered with a loop is
// touched only by that loop's thread (except Post() and Exit()).
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
//   (*loop)->Add(fd, EPOLLIN, &handler);      // handler.OnIoEvent(events)
//   Timer timer(**loop, [] { /* expired */ });
//   timer.Enable(absl::Seconds(1));
//   (*loop)->Run();                           // until Exit()
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_EVENT_LOOP_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_EVENT_LOOP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace polymesh::gateway {

class EventLoop;

// Receives the readiness events (EPOLLIN, EPOLLOUT, ...) of a descriptor.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // Called on the loop thread with the epoll event mask.
  virtual void OnIoEvent(uint32_t events) = 0;
};

// Something with buffered output to write once the current event is handled
// (so that many changes are written together).
class Flushable {
 public:
  virtual ~Flushable() = default;
  // Writes what is pending. Called on the loop thread.
  virtual void Flush() = 0;

 private:
  friend class EventLoop;
  bool flush_scheduled_ = false;
};

// Something deleted by the loop at the end of the current iteration, when no
// callback on the stack can still refer to it.
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

// A one-shot timer on a loop. Not thread-safe: use on the loop's thread.
class Timer {
 public:
  // Makes a disabled timer that runs `callback` when it expires.
  Timer(EventLoop& loop, std::function<void()> callback);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer to expire after `delay`.
  void Enable(absl::Duration delay);
  // (Re)arms the timer to expire at `deadline`.
  void EnableAt(absl::Time deadline);
  // Disarms the timer; a no-op when disabled.
  void Disable();
  // Whether the timer is armed.
  bool enabled() const { return enabled_; }

 private:
  friend class EventLoop;
  EventLoop& loop_;
  std::function<void()> callback_;
  bool enabled_ = false;
  absl::Time deadline_;
};

// The loop. Create() it, register handlers, Run() it on one thread.
class EventLoop {
 public:
  // Makes a loop (an epoll instance and an eventfd for Post()).
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers `fd` for `events`; `handler` must outlive the registration.
  absl::Status Add(int fd, uint32_t events, IoHandler* handler);
  // Changes the events `fd` is registered for.
  absl::Status Modify(int fd, uint32_t events, IoHandler* handler);
  // Unregisters `fd` (call before closing it).
  void Remove(int fd);

  // Schedules `target->Flush()` after the current event is handled; at most
  // once however often it is called. `target` must stay alive until then
  // (DeferDelete keeps it alive long enough), or cancel it.
  void ScheduleFlush(Flushable* target);
  // Cancels the flush of `target` scheduled and not yet run (a no-op when
  // there is none): for an object destroyed without DeferDelete, such as at
  // teardown, when what it destroys may still schedule one.
  void CancelFlush(Flushable* target);
  // How many flushes are scheduled (for tests).
  size_t ScheduledFlushesForTest() const { return flushes_.size(); }
  // Deletes `object` at the end of the current iteration.
  void DeferDelete(std::unique_ptr<DeferredDeletable> object);

  // Runs `work` on the loop thread soon. Thread-safe.
  void Post(std::function<void()> work);
  // Makes Run() return after the current iteration. Thread-safe.
  void Exit();
  // Handles events until Exit() is called.
  void Run();

  // Runs scheduled flushes and deferred deletes now (for teardown, outside
  // Run()).
  void RunPendingWork() { RunDeferred(); }

  // The time at the start of the current iteration (cheap to read).
  absl::Time now() const { return now_; }

 private:
  friend class Timer;
  explicit EventLoop(int epoll_fd, int wake_fd);

  void ArmTimer(Timer* timer, absl::Time deadline);
  void DisarmTimer(Timer* timer);
  void RunExpiredTimers();
  void RunPosted();
  void RunDeferred();
  int NextTimeoutMs() const;

  const int epoll_fd_;
  const int wake_fd_;
  absl::Time now_;
  bool exit_ = false;
  std::set<std::pair<absl::Time, Timer*>> timers_;
  std::vector<Flushable*> flushes_;
  std::vector<std::unique_ptr<DeferredDeletable>> deletes_;

  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by posted_mutex_
  bool exit_requested_ = false;                // guarded by posted_mutex_
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_EVENT_LOOP_H_
