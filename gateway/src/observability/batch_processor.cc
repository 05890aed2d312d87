#include "observability/batch_processor.h"

#include <algorithm>
#include <utility>

namespace polymesh::observability {
namespace {

void Add(const std::shared_ptr<TracingCounters>& counters,
         std::atomic<uint64_t> TracingCounters::*counter, uint64_t delta) {
  if (counters != nullptr) ((*counters).*counter).fetch_add(delta, std::memory_order_relaxed);
}

}  // namespace

BatchExportProcessor::BatchExportProcessor(
    std::unique_ptr<SpanExporter> exporter, const BatchOptions& options,
    std::shared_ptr<TracingCounters> counters, int max_concurrent_exports)
    : exporter_(std::move(exporter)),
      max_queue_size_(std::max<size_t>(options.max_queue_size, 1)),
      max_export_batch_size_(
          std::clamp<size_t>(options.max_export_batch_size, 1, std::max<size_t>(
                                                                   options.max_queue_size, 1))),
      schedule_delay_(options.schedule_delay),
      counters_(std::move(counters)),
      max_concurrent_exports_(std::max(max_concurrent_exports, 1)) {}

BatchExportProcessor::~BatchExportProcessor() { Shutdown(std::chrono::microseconds::max()); }

void BatchExportProcessor::OnEnd(std::unique_ptr<SpanRecord> span) {
  if (span == nullptr || shut_down_.load(std::memory_order_relaxed)) return;
  bool full_batch = false;  // or the first span of a batch
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (queue_.size() >= max_queue_size_) {
      Add(counters_, &TracingCounters::spans_dropped_queue_full, 1);
      return;  // `span` is freed here
    }
    if (!threads_started_) {
      threads_started_ = true;
      queue_.reserve(std::min<size_t>(max_queue_size_, max_export_batch_size_ * 2));
      for (int i = 0; i < max_concurrent_exports_; ++i) {
        threads_.emplace_back(&BatchExportProcessor::Run, this);
      }
    }
    // The first span of a batch starts its schedule delay: a thread waiting
    // for work with no deadline (the queue was empty) must learn of it, or a
    // batch that never fills would wait for the next full one.
    const bool first = queue_.empty();
    if (first) oldest_ = absl::Now();
    queue_.push_back(std::move(span));
    full_batch = first || queue_.size() == max_export_batch_size_;
  }
  if (full_batch) wake_.Signal();
}

bool BatchExportProcessor::Shutdown(std::chrono::microseconds timeout) {
  if (shut_down_.exchange(true)) return true;
  bool started = false;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    started = threads_started_;
  }
  wake_.SignalAll();
  if (started) {
    for (std::thread& thread : threads_) thread.join();  // they export what is queued first
  }
  return exporter_->Shutdown(timeout);
}

bool BatchExportProcessor::HasWork() const {
  if (queue_.empty()) return false;
  return stopping_ || queue_.size() >= max_export_batch_size_ ||
         absl::Now() >= oldest_ + absl::FromChrono(schedule_delay_);
}

void BatchExportProcessor::Run() {
  Batch batch;
  batch.reserve(max_export_batch_size_);
  mu_.Lock();
  while (true) {
    while (!HasWork()) {
      if (stopping_) {
        mu_.Unlock();
        return;
      }
      if (queue_.empty()) {
        wake_.Wait(&mu_);
      } else {
        wake_.WaitWithDeadline(&mu_, oldest_ + absl::FromChrono(schedule_delay_));
      }
    }
    // Take the oldest batch.
    const size_t count = std::min(max_export_batch_size_, queue_.size());
    batch.insert(batch.end(), std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(count)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(count));
    if (!queue_.empty()) {
      oldest_ = absl::Now();  // the rest waits at most another delay
      if (queue_.size() >= max_export_batch_size_) wake_.Signal();  // another full batch
    }
    mu_.Unlock();
    Export(batch);
    mu_.Lock();
  }
}

void BatchExportProcessor::Export(Batch& batch) {
  const ExportResult result = exporter_->Export(batch);
  Add(counters_, &TracingCounters::exports, 1);
  Add(counters_,
      result == ExportResult::kSuccess
          ? &TracingCounters::spans_exported
          : &TracingCounters::spans_dropped_export_failed,
      batch.size());
  batch.clear();
}

}  // namespace polymesh::observability
