#include "observability/in_memory_spans.h"

#include <atomic>
#include <utility>

namespace polymesh::observability {
namespace {

class InMemorySpanProcessor final : public SpanProcessor {
 public:
  explicit InMemorySpanProcessor(std::shared_ptr<InMemorySpans> spans)
      : spans_(std::move(spans)) {}

  void OnEnd(std::unique_ptr<SpanRecord> span) override {
    if (span != nullptr && !shut_down_.load()) spans_->Add(std::move(span));
  }
  bool Shutdown(std::chrono::microseconds /*timeout*/) override {
    shut_down_.store(true);
    return true;
  }

 private:
  const std::shared_ptr<InMemorySpans> spans_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace

void InMemorySpans::Add(std::unique_ptr<SpanRecord> span) {
  absl::MutexLock lock(&mu_);
  spans_.push_back(std::move(span));
}

std::vector<std::unique_ptr<SpanRecord>> InMemorySpans::Take() {
  absl::MutexLock lock(&mu_);
  return std::exchange(spans_, {});
}

std::unique_ptr<SpanProcessor> InMemoryProcessor(std::shared_ptr<InMemorySpans> spans) {
  return std::make_unique<InMemorySpanProcessor>(std::move(spans));
}

}  // namespace polymesh::observability
