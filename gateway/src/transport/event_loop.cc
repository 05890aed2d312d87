#include "transport/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

namespace polymesh::gateway {
namespace {

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Marks the eventfd registration (its handler pointer is never called).
IoHandler* const kWakeHandler = nullptr;

}  // namespace

Timer::Timer(EventLoop& loop, std::function<void()> callback)
    : loop_(loop), callback_(std::move(callback)) {}

Timer::~Timer() { Disable(); }

void Timer::Enable(absl::Duration delay) { EnableAt(loop_.now() + delay); }

void Timer::EnableAt(absl::Time deadline) {
  Disable();
  loop_.ArmTimer(this, deadline);
}

void Timer::Disable() {
  if (enabled_) loop_.DisarmTimer(this);
}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return ErrnoError("epoll_create1");
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const absl::Status status = ErrnoError("eventfd");
    close(epoll_fd);
    return status;
  }
  std::unique_ptr<EventLoop> loop(new EventLoop(epoll_fd, wake_fd));
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = kWakeHandler;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &event) != 0) {
    return ErrnoError("epoll_ctl(eventfd)");
  }
  return loop;
}

EventLoop::EventLoop(int epoll_fd, int wake_fd)
    : epoll_fd_(epoll_fd), wake_fd_(wake_fd), now_(absl::Now()) {}

EventLoop::~EventLoop() {
  flushes_.clear();
  deletes_.clear();
  close(wake_fd_);
  close(epoll_fd_);
}

absl::Status EventLoop::Add(int fd, uint32_t events, IoHandler* handler) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    return ErrnoError("epoll_ctl(ADD)");
  }
  return absl::OkStatus();
}

absl::Status EventLoop::Modify(int fd, uint32_t events, IoHandler* handler) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0) {
    return ErrnoError("epoll_ctl(MOD)");
  }
  return absl::OkStatus();
}

void EventLoop::Remove(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::ScheduleFlush(Flushable* target) {
  if (target->flush_scheduled_) return;
  target->flush_scheduled_ = true;
  flushes_.push_back(target);
}

void EventLoop::CancelFlush(Flushable* target) {
  if (!target->flush_scheduled_) return;
  target->flush_scheduled_ = false;
  flushes_.erase(std::remove(flushes_.begin(), flushes_.end(), target), flushes_.end());
}

void EventLoop::DeferDelete(std::unique_ptr<DeferredDeletable> object) {
  deletes_.push_back(std::move(object));
}

void EventLoop::Post(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(work));
  }
  const uint64_t one = 1;
  ssize_t unused = write(wake_fd_, &one, sizeof(one));
  (void)unused;
}

void EventLoop::Exit() {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    exit_requested_ = true;
  }
  const uint64_t one = 1;
  ssize_t unused = write(wake_fd_, &one, sizeof(one));
  (void)unused;
}

void EventLoop::ArmTimer(Timer* timer, absl::Time deadline) {
  timer->enabled_ = true;
  timer->deadline_ = deadline;
  timers_.emplace(deadline, timer);
}

void EventLoop::DisarmTimer(Timer* timer) {
  timers_.erase({timer->deadline_, timer});
  timer->enabled_ = false;
}

int EventLoop::NextTimeoutMs() const {
  if (!flushes_.empty() || !deletes_.empty()) return 0;
  if (timers_.empty()) return -1;
  const absl::Duration wait = timers_.begin()->first - absl::Now();
  if (wait <= absl::ZeroDuration()) return 0;
  // Round up, so that a timer never fires early.
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))),
                        60 * 60 * 1000));
}

void EventLoop::RunExpiredTimers() {
  while (!timers_.empty() && timers_.begin()->first <= now_) {
    Timer* timer = timers_.begin()->second;
    timers_.erase(timers_.begin());
    timer->enabled_ = false;
    // The callback may delete or re-arm the timer.
    timer->callback_();
    RunDeferred();
  }
}

void EventLoop::RunPosted() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    work.swap(posted_);
    if (exit_requested_) exit_ = true;
  }
  for (auto& item : work) item();
}

void EventLoop::RunDeferred() {
  // Flushes may schedule deletes and deletes may schedule flushes: run both
  // until neither has work left.
  while (!flushes_.empty() || !deletes_.empty()) {
    while (!flushes_.empty()) {
      std::vector<Flushable*> batch;
      batch.swap(flushes_);
      for (Flushable* target : batch) {
        target->flush_scheduled_ = false;
        target->Flush();
      }
    }
    std::vector<std::unique_ptr<DeferredDeletable>> batch;
    batch.swap(deletes_);
    batch.clear();
  }
}

void EventLoop::Run() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  while (!exit_) {
    const int count = epoll_wait(epoll_fd_, events, kMaxEvents, NextTimeoutMs());
    now_ = absl::Now();
    if (count < 0 && errno != EINTR) break;
    for (int i = 0; i < count; ++i) {
      auto* handler = static_cast<IoHandler*>(events[i].data.ptr);
      if (handler == kWakeHandler) {
        uint64_t value;
        ssize_t unused = read(wake_fd_, &value, sizeof(value));
        (void)unused;
        RunPosted();
        continue;
      }
      handler->OnIoEvent(events[i].events);
    }
    // Deferred deletes run only after the whole batch: a later event of the
    // batch may belong to a handler that an earlier one closed.
    RunDeferred();
    RunExpiredTimers();
    RunDeferred();
  }
}

}  // namespace polymesh::gateway
