// Fuzzes W3C trace context as a client sends it (observability/tracing.h):
// the traceparent and tracestate request headers that a SERVER span
// continues, the context the gateway sends upstream, the span records the
// exporter writes, and the access log's trace id (accesslog/access_log.h).
//
// Input: the traceparent value, "\n", the tracestate value.
//
// Properties: a well-formed version-00 traceparent (W3C: lower-case hex,
// non-zero ids) is continued (same trace, the client's span as parent, its
// sampled flag honoured); one that does not even look like a traceparent
// starts a new trace; the traceparent sent upstream is always a well-formed
// version-00 one of the same trace; the tracestate sent upstream reads back
// as itself; a span record's OTLP wire form is the message ToProto builds;
// with tracing disabled both headers pass unchanged.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "accesslog/access_log.h"
#include "fuzz_check.h"
#include "google/protobuf/util/message_differencer.h"
#include "observability/recording_tracer.h"
#include "observability/span_pipeline.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "opentelemetry/trace/trace_state.h"

namespace polymesh::observability {
namespace {

using ::polymesh::fuzz::Escaped;

// Keeps the records of ended spans.
class KeptSpans final : public SpanProcessor {
 public:
  void OnEnd(std::unique_ptr<SpanRecord> span) override { spans.push_back(std::move(span)); }
  bool Shutdown(std::chrono::microseconds) override { return true; }
  std::vector<std::unique_ptr<SpanRecord>> spans;
};

bool IsLowerHex(std::string_view text) {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view text) { return text.find_first_not_of('0') == std::string_view::npos; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// "vv-<32 hex>-<16 hex>-ff": the fields a traceparent starts with, in
// lower-case hex; for version 00, nothing more.
bool LooksLikeTraceparent(std::string_view value) {
  return value.size() >= 55 && value[2] == '-' && value[35] == '-' && value[52] == '-' &&
         IsLowerHex(value.substr(0, 2)) && IsLowerHex(value.substr(3, 32)) &&
         IsLowerHex(value.substr(36, 16)) && IsLowerHex(value.substr(53, 2));
}

bool IsValidVersion00(std::string_view value) {
  return value.size() == 55 && LooksLikeTraceparent(value) && value.substr(0, 2) == "00" &&
         !AllZero(value.substr(3, 32)) && !AllZero(value.substr(36, 16));
}

std::string Hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

void CheckWire(const SpanRecord& record) {
  std::string wire;
  record.AppendWire(wire);
  opentelemetry::proto::trace::v1::Span from_wire;
  FUZZ_CHECK(from_wire.ParseFromString(wire)) << "the wire form does not parse";
  opentelemetry::proto::trace::v1::Span built;
  record.ToProto(&built);
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(from_wire, built))
      << "wire: " << from_wire.ShortDebugString() << "\nproto: " << built.ShortDebugString();
  FUZZ_CHECK(from_wire.trace_state() == record.trace_state());
}

}  // namespace
}  // namespace polymesh::observability

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::observability;  // NOLINT(google-build-using-namespace)
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view traceparent = input.substr(0, newline);
  const std::string_view tracestate =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  auto kept = std::make_unique<KeptSpans>();
  KeptSpans* spans = kept.get();
  std::unique_ptr<Tracer> tracer = NewRecordingTracer(
      std::move(kept), *ParseSampler("", ""), *MakeResource("", "", "polymesh-gateway"),
      SemconvMode::kDup, nullptr);

  ServerSpan server = tracer->StartServer("/polymesh.testing.v1.EchoService/Echo",
                                          traceparent, tracestate);
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  const std::string sent = client.traceparent();
  const std::string sent_state = client.tracestate();
  client.End(14, "upstream \"unavailable\"\n");
  server.End(0);
  tracer->Shutdown();

  // Upstream: a well-formed version-00 traceparent.
  FUZZ_CHECK(IsValidVersion00(sent)) << Escaped(sent);
  FUZZ_CHECK(sent.substr(53) == "00" || sent.substr(53) == "01") << Escaped(sent);
  FUZZ_CHECK(polymesh::gateway::TraceIdOf(sent) == sent.substr(3, 32)) << Escaped(sent);
  const std::string_view trimmed = Trim(traceparent);
  const bool continued = IsValidVersion00(trimmed);
  if (continued) {
    FUZZ_CHECK(sent.substr(3, 32) == trimmed.substr(3, 32))
        << "trace not continued: " << Escaped(traceparent) << " -> " << Escaped(sent);
    const bool sampled = (std::stoi(std::string(trimmed.substr(53, 2)), nullptr, 16) & 1) != 0;
    FUZZ_CHECK(sent.substr(53) == (sampled ? "01" : "00")) << Escaped(sent);
  }
  if (!LooksLikeTraceparent(trimmed)) {
    for (const auto& record : spans->spans) {
      FUZZ_CHECK(record->kind() != opentelemetry::trace::SpanKind::kServer ||
                 !record->parent_span_id().IsValid())
          << "a parent from " << Escaped(traceparent);
    }
  }

  // The tracestate sent upstream reads back as itself.
  FUZZ_CHECK(LooksLikeTraceparent(trimmed) || sent_state.empty()) << Escaped(sent_state);
  if (!sent_state.empty()) {
    const std::string again = opentelemetry::trace::TraceState::FromHeader(sent_state)->ToHeader();
    FUZZ_CHECK(again == sent_state) << Escaped(sent_state) << " -> " << Escaped(again);
  }

  // The records: server and client, in the order they ended, when sampled.
  FUZZ_CHECK(spans->spans.size() == 0 || spans->spans.size() == 2) << spans->spans.size();
  for (const auto& record : spans->spans) {
    CheckWire(*record);
    const opentelemetry::trace::TraceId id = record->trace_id();
    FUZZ_CHECK(Hex(id.Id().data(), id.Id().size()) == sent.substr(3, 32));
    if (continued && record->kind() == opentelemetry::trace::SpanKind::kServer) {
      const opentelemetry::trace::SpanId parent = record->parent_span_id();
      FUZZ_CHECK(Hex(parent.Id().data(), parent.Id().size()) == trimmed.substr(36, 16));
    }
  }

  // The access log's trace id: empty, or 32 lower-case hex digits.
  const std::string logged = polymesh::gateway::TraceIdOf(std::string(traceparent));
  FUZZ_CHECK(logged.empty() || (logged.size() == 32 && IsLowerHex(logged))) << Escaped(logged);
  if (IsValidVersion00(traceparent)) {
    FUZZ_CHECK(logged == traceparent.substr(3, 32)) << Escaped(traceparent);
  }

  // Tracing disabled: both headers pass as they came.
  static Tracer* const disabled = Tracer::FromEnvironment({.disabled = true})->release();
  ServerSpan passing = disabled->StartServer("/a.B/C", traceparent, tracestate);
  ClientSpan passed = passing.StartClient("127.0.0.1", 1);
  FUZZ_CHECK(passed.traceparent() == traceparent && passed.tracestate() == tracestate);
  return 0;
}
