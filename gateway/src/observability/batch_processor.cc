#include "observability/batch_processor.h"

#include <algorithm>
#include <utility>

#include "opentelemetry/nostd/span.h"
#include "opentelemetry/sdk/common/exporter_utils.h"

namespace polymesh::observability {
namespace {

void Add(const std::shared_ptr<TracingCounters>& counters,
         std::atomic<uint64_t> TracingCounters::*counter, uint64_t delta) {
  if (counters != nullptr) ((*counters).*counter).fetch_add(delta, std::memory_order_relaxed);
}

}  // namespace

BatchExportProcessor::BatchExportProcessor(
    std::unique_ptr<opentelemetry::sdk::trace::SpanExporter> exporter,
    const opentelemetry::sdk::trace::BatchSpanProcessorOptions& options,
    std::shared_ptr<TracingCounters> counters)
    : exporter_(std::move(exporter)),
      max_queue_size_(std::max<size_t>(options.max_queue_size, 1)),
      max_export_batch_size_(
          std::clamp<size_t>(options.max_export_batch_size, 1, std::max<size_t>(
                                                                   options.max_queue_size, 1))),
      schedule_delay_(options.schedule_delay_millis),
      counters_(std::move(counters)) {}

BatchExportProcessor::~BatchExportProcessor() { Shutdown(std::chrono::microseconds::max()); }

std::unique_ptr<opentelemetry::sdk::trace::Recordable>
BatchExportProcessor::MakeRecordable() noexcept {
  return exporter_->MakeRecordable();
}

void BatchExportProcessor::OnStart(opentelemetry::sdk::trace::Recordable& /*span*/,
                                   const opentelemetry::trace::SpanContext& /*parent*/) noexcept {}

void BatchExportProcessor::OnEnd(
    std::unique_ptr<opentelemetry::sdk::trace::Recordable>&& span) noexcept {
  if (span == nullptr || shut_down_.load(std::memory_order_relaxed)) return;
  bool full_batch = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (queue_.size() >= max_queue_size_) {
      Add(counters_, &TracingCounters::spans_dropped_queue_full, 1);
      return;  // the caller's pointer frees the span
    }
    if (!thread_started_) {
      thread_started_ = true;
      queue_.reserve(std::min<size_t>(max_queue_size_, max_export_batch_size_ * 2));
      thread_ = std::thread(&BatchExportProcessor::Run, this);
    }
    if (queue_.empty()) oldest_ = absl::Now();
    queue_.push_back(std::move(span));
    full_batch = queue_.size() == max_export_batch_size_;
  }
  if (full_batch) wake_.Signal();
}

bool BatchExportProcessor::ForceFlush(std::chrono::microseconds timeout) noexcept {
  const absl::Time deadline = timeout == std::chrono::microseconds::max()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + absl::FromChrono(timeout);
  absl::MutexLock lock(&mu_);
  if (!thread_started_ || stopping_) return queue_.empty();
  const uint64_t target = ++flush_requested_;
  wake_.Signal();
  while (flush_done_ < target) {
    if (flushed_.WaitWithDeadline(&mu_, deadline)) return flush_done_ >= target;
  }
  return true;
}

bool BatchExportProcessor::Shutdown(std::chrono::microseconds timeout) noexcept {
  if (shut_down_.exchange(true)) return true;
  bool started = false;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    started = thread_started_;
  }
  wake_.Signal();
  if (started) thread_.join();  // the thread exports what is queued first
  return exporter_->Shutdown(timeout);
}

void BatchExportProcessor::Run() {
  Batch batch;
  batch.reserve(queue_.capacity());
  mu_.Lock();
  while (true) {
    // A full batch, the delay since the oldest span, a flush or a stop.
    while (!stopping_ && flush_requested_ == flush_done_ &&
           queue_.size() < max_export_batch_size_) {
      if (queue_.empty()) {
        wake_.Wait(&mu_);
        continue;
      }
      const absl::Time deadline = oldest_ + absl::FromChrono(schedule_delay_);
      if (absl::Now() >= deadline) break;
      wake_.WaitWithDeadline(&mu_, deadline);
    }
    const uint64_t flush_target = flush_requested_;
    const bool stop = stopping_;
    batch.swap(queue_);  // queue_ takes the emptied batch's capacity
    mu_.Unlock();
    ExportAll(batch);
    mu_.Lock();
    if (flush_target > flush_done_) {
      flush_done_ = flush_target;
      flushed_.SignalAll();
    }
    if (stop && queue_.empty()) break;
  }
  mu_.Unlock();
}

void BatchExportProcessor::ExportAll(Batch& batch) {
  for (size_t begin = 0; begin < batch.size(); begin += max_export_batch_size_) {
    const size_t count = std::min(max_export_batch_size_, batch.size() - begin);
    const opentelemetry::sdk::common::ExportResult result = exporter_->Export(
        opentelemetry::nostd::span<std::unique_ptr<opentelemetry::sdk::trace::Recordable>>(
            batch.data() + begin, count));
    Add(counters_, &TracingCounters::exports, 1);
    Add(counters_,
        result == opentelemetry::sdk::common::ExportResult::kSuccess
            ? &TracingCounters::spans_exported
            : &TracingCounters::spans_dropped_export_failed,
        count);
  }
  batch.clear();
}

}  // namespace polymesh::observability
