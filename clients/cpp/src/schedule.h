// The fixed schedule of an open-loop run: call j of the run is meant to be
// sent at start + j / rate, whatever happened to the calls before it, and its
// latency is measured from that intended time, so that a server that stalls
// shows its queueing in the latencies instead of slowing the load down
// (no coordinated omission).
//
// A run's calls are dealt to its threads in turn: thread k of n sends calls
// k, k + n, k + 2n, ... so that the threads' schedules interleave into one
// evenly spaced schedule.
//
// Usage:
//
//   OpenLoopSchedule schedule(/*rate=*/1000, start_ns, /*stride=*/2, /*offset=*/1);
//   while (next < schedule.DueBy(now_ns)) Send(schedule.IntendedNs(next++));
//   timer.ArmAt(schedule.IntendedNs(next));
#ifndef POLYMESH_CLIENTS_CPP_SRC_SCHEDULE_H_
#define POLYMESH_CLIENTS_CPP_SRC_SCHEDULE_H_

#include <cmath>
#include <cstdint>

namespace polymesh::cli {

// One thread's share of a run's schedule. Indexes are the thread's own
// (0, 1, 2, ...); Global() turns them into the run's.
class OpenLoopSchedule {
 public:
  // `rate`: the run's calls per second (> 0); `start_ns`: when the run's call
  // 0 is due (a monotonic clock in nanoseconds); `stride` threads share the
  // run and this is thread `offset` (0 <= offset < stride).
  OpenLoopSchedule(double rate, int64_t start_ns, uint64_t stride = 1, uint64_t offset = 0)
      : interval_ns_(1e9 / rate), start_ns_(start_ns), stride_(stride), offset_(offset) {}

  // The run's index of this thread's call `i`.
  uint64_t Global(uint64_t i) const { return i * stride_ + offset_; }

  // When this thread's call `i` is due. Computed from the start each time,
  // so rounding never accumulates.
  int64_t IntendedNs(uint64_t i) const {
    return start_ns_ + static_cast<int64_t>(std::llround(static_cast<double>(Global(i)) *
                                                         interval_ns_));
  }

  // How many of this thread's calls are due at `now_ns` (calls 0 .. n-1).
  uint64_t DueBy(int64_t now_ns) const {
    if (now_ns < IntendedNs(0)) return 0;
    // The run's calls due by now, then this thread's share of them; the
    // estimate is corrected against IntendedNs so that both always agree.
    const auto run_due = static_cast<uint64_t>(
        std::floor(static_cast<double>(now_ns - start_ns_) / interval_ns_)) + 1;
    uint64_t due = run_due > offset_ ? (run_due - offset_ + stride_ - 1) / stride_ : 0;
    while (due > 0 && IntendedNs(due - 1) > now_ns) --due;
    while (IntendedNs(due) <= now_ns) ++due;
    return due;
  }

  // The first of this thread's calls whose run index is at least `global`
  // (to find where a run-wide boundary, such as the end of the warmup, falls
  // in this thread's calls).
  uint64_t FirstAtOrAfter(uint64_t global) const {
    if (global <= offset_) return 0;
    return (global - offset_ + stride_ - 1) / stride_;
  }

  // The time between two calls of the run, in nanoseconds.
  double interval_ns() const { return interval_ns_; }

 private:
  double interval_ns_;
  int64_t start_ns_;
  uint64_t stride_;
  uint64_t offset_;
};

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_SCHEDULE_H_
