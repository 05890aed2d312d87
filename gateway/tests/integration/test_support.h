// Helpers shared by the gateway's in-process integration tests.
#ifndef POLYMESH_GATEWAY_TEST_INTEGRATION_TEST_SUPPORT_H_
#define POLYMESH_GATEWAY_TEST_INTEGRATION_TEST_SUPPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "observability/in_memory_spans.h"
#include "observability/tracing_for_test.h"
#include "prometheus/metric_family.h"
#include "server/gateway.h"
#include "transport/socket.h"

namespace polymesh::gateway::testing {

// Starts a gateway on `config` whose tracer records every span into
// memory, where `*spans` reads them.
inline absl::StatusOr<std::unique_ptr<Gateway>> StartRecordingSpans(
    const GatewayConfig& config, std::shared_ptr<observability::InMemorySpans>* spans) {
  *spans = std::make_shared<observability::InMemorySpans>();
  return Gateway::Start(config,
                        observability::TracerForTest(observability::InMemoryProcessor(*spans)));
}

// Generous bound for things that happen "at once" (never reached when the
// code works; a test that fails does so in this time, not by hanging).
inline constexpr absl::Duration kWait = absl::Seconds(10);

// A port with nothing listening on it: bound, read back, closed.
inline uint16_t DeadPort() {
  absl::StatusOr<ScopedFd> fd = ListenTcp("127.0.0.1", 0);
  EXPECT_TRUE(fd.ok());
  return *LocalPort(fd->get());
}

// The value of the first sample of `family` carrying every label of
// `labels` (a histogram's sample count), or -1 when there is none.
inline double Sample(const std::vector<prometheus::MetricFamily>& families,
                     const std::string& family,
                     const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const prometheus::MetricFamily& f : families) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      bool all = true;
      for (const auto& [name, value] : labels) {
        bool found = false;
        for (const auto& label : m.label) found |= label.name == name && label.value == value;
        all &= found;
      }
      if (!all) continue;
      if (f.type == prometheus::MetricType::Histogram) {
        return static_cast<double>(m.histogram.sample_count);
      }
      return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return -1;
}

}  // namespace polymesh::gateway::testing

#endif  // POLYMESH_GATEWAY_TEST_INTEGRATION_TEST_SUPPORT_H_
