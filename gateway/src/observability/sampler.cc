#include "observability/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace polymesh::observability {

Sampler::Sampler(Kind kind, double ratio, bool parent_based)
    : kind_(kind), parent_based_(parent_based), ratio_(ratio), bound_(0) {
  if (kind_ == Kind::kTraceIdRatio) {
    // NaN is not a ratio: none.
    ratio_ = std::isnan(ratio) ? 0 : std::clamp(ratio, 0.0, 1.0);
    bound_ = static_cast<uint64_t>(ratio_ * 0x1p63);
  }
}

Sampler Sampler::AlwaysOn() { return Sampler(Kind::kAlwaysOn, 1, false); }

Sampler Sampler::AlwaysOff() { return Sampler(Kind::kAlwaysOff, 0, false); }

Sampler Sampler::TraceIdRatio(double ratio) { return Sampler(Kind::kTraceIdRatio, ratio, false); }

Sampler Sampler::ParentBased(Sampler root) {
  root.parent_based_ = true;
  return root;
}

bool Sampler::SampleRoot(const opentelemetry::trace::TraceId& trace_id) const {
  switch (kind_) {
    case Kind::kAlwaysOn:
      return true;
    case Kind::kAlwaysOff:
      return false;
    case Kind::kTraceIdRatio: {
      uint64_t low = 0;
      for (size_t i = 8; i < opentelemetry::trace::TraceId::kSize; ++i) {
        low = (low << 8) | trace_id.Id()[i];
      }
      return (low >> 1) < bound_;
    }
  }
  return false;
}

bool Sampler::ShouldSample(const opentelemetry::trace::SpanContext& parent,
                           const opentelemetry::trace::TraceId& trace_id) const {
  if (parent_based_ && parent.IsValid()) return parent.IsSampled();
  return SampleRoot(trace_id);
}

std::string Sampler::Description() const {
  std::string root;
  switch (kind_) {
    case Kind::kAlwaysOn:
      root = "AlwaysOnSampler";
      break;
    case Kind::kAlwaysOff:
      root = "AlwaysOffSampler";
      break;
    case Kind::kTraceIdRatio:
      root = absl::StrFormat("TraceIdRatioBasedSampler{%f}", ratio_);
      break;
  }
  return parent_based_ ? absl::StrCat("ParentBased{", root, "}") : root;
}

}  // namespace polymesh::observability
