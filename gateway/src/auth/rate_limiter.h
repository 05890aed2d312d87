// Token buckets, one per key (a principal on a route), shared by every
// worker: a bucket holds up to `burst` tokens and gains
// `requests_per_second` of them a second; a call takes one.
//
// The buckets are sharded (a mutex each, held for a hash lookup and a few
// arithmetic operations), and their number is bounded: a full shard first
// forgets the buckets that have refilled (forgetting them changes nothing),
// then, if it must, all of its buckets.
//
// Usage:
//
//   RateLimiter limiter(/*requests_per_second=*/50, /*burst=*/100);
//   absl::Duration wait = limiter.Acquire("demo", loop.now());
//   if (wait > absl::ZeroDuration()) { /* RESOURCE_EXHAUSTED, retry after wait */ }
#ifndef POLYMESH_GATEWAY_SRC_AUTH_RATE_LIMITER_H_
#define POLYMESH_GATEWAY_SRC_AUTH_RATE_LIMITER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace polymesh::gateway {

// Per-key token buckets. Thread-safe.
class RateLimiter {
 public:
  // `requests_per_second` > 0; `burst` >= 1. At most `max_keys` buckets
  // are kept.
  RateLimiter(double requests_per_second, uint32_t burst, size_t max_keys = 65536);

  // Takes a token from `key`'s bucket at `now`: zero when one was there,
  // else how long until one will be (nothing is taken then).
  absl::Duration Acquire(absl::string_view key, absl::Time now);

  double requests_per_second() const { return rate_; }
  uint32_t burst() const { return burst_; }
  // Buckets kept now (for tests).
  size_t bucket_count() const;

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  struct Shard {
    mutable absl::Mutex mutex;
    absl::flat_hash_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mutex);
  };
  static constexpr size_t kShards = 16;

  // Forgets the buckets of `shard` that are full again at `now`, or all of
  // them when none is.
  void Evict(Shard& shard, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mutex);

  const double rate_;
  const uint32_t burst_;
  const size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_AUTH_RATE_LIMITER_H_
