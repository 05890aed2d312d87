#include "observability/tracing.h"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "observability/in_memory_spans.h"
#include "observability/sampler.h"
#include "observability/span_record.h"
#include "observability/tracing_config.h"
#include "observability/tracing_for_test.h"
#include "opentelemetry/trace/propagation/http_trace_context.h"

namespace polymesh::observability {
namespace {

using ::opentelemetry::trace::SpanKind;
using ::opentelemetry::trace::StatusCode;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;

constexpr char kPath[] = "/polymesh.ai.v1.AIService/Predict";
constexpr char kSpanName[] = "polymesh.ai.v1.AIService/Predict";
constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParentSpanId[] = "00f067aa0ba902b7";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kTracestate[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

template <typename Id>
std::string Hex(const Id& id) {
  char buffer[2 * Id::kSize];
  id.ToLowerBase16(buffer);
  return std::string(buffer, sizeof(buffer));
}

std::string Name(const SpanRecord& span) { return std::string(span.name()); }

bool HasAttribute(const SpanRecord& span, const std::string& key) {
  return span.attribute(key).has_value();
}

std::optional<std::string> StringAttribute(const SpanRecord& span, const std::string& key) {
  const std::optional<SpanRecord::Value> value = span.attribute(key);
  if (!value.has_value()) return std::nullopt;
  const auto* text = std::get_if<std::string_view>(&*value);
  if (text == nullptr) return "<not a string>";
  return std::string(*text);
}

std::optional<int64_t> IntAttribute(const SpanRecord& span, const std::string& key) {
  const std::optional<SpanRecord::Value> value = span.attribute(key);
  if (!value.has_value()) return std::nullopt;
  const auto* number = std::get_if<int64_t>(&*value);
  if (number == nullptr) return -999;
  return *number;
}

// The span context a traceparent value stands for, parsed by the SDK's own
// propagator.
opentelemetry::trace::SpanContext Parse(const std::string& traceparent) {
  class Carrier final : public opentelemetry::context::propagation::TextMapCarrier {
   public:
    explicit Carrier(const std::string& traceparent) : traceparent_(traceparent) {}
    opentelemetry::nostd::string_view Get(
        opentelemetry::nostd::string_view key) const noexcept override {
      return key == "traceparent" ? opentelemetry::nostd::string_view(traceparent_)
                                  : opentelemetry::nostd::string_view();
    }
    void Set(opentelemetry::nostd::string_view /*key*/,
             opentelemetry::nostd::string_view /*value*/) noexcept override {}

   private:
    const std::string& traceparent_;
  };
  Carrier carrier(traceparent);
  opentelemetry::context::Context context;
  return opentelemetry::trace::GetSpan(
             opentelemetry::trace::propagation::HttpTraceContext().Extract(carrier, context))
      ->GetContext();
}

class TracingTest : public ::testing::Test {
 protected:
  std::unique_ptr<Tracer> MakeTracer(SemconvMode semconv = SemconvMode::kDup,
                                     std::optional<Sampler> sampler = std::nullopt) {
    spans_ = std::make_shared<InMemorySpans>();
    return TracerForTest(InMemoryProcessor(spans_), semconv, sampler);
  }

  // The spans ended so far, in the order they ended.
  std::vector<std::unique_ptr<SpanRecord>> TakeSpans() { return spans_->Take(); }

  // Ends one SERVER and one CLIENT span with `status`; returns {server, client}.
  std::pair<std::unique_ptr<SpanRecord>, std::unique_ptr<SpanRecord>> EndBoth(
      SemconvMode semconv, int status, std::string_view message = "") {
    std::unique_ptr<Tracer> tracer = MakeTracer(semconv);
    ServerSpan server = tracer->StartServer(kPath, kTraceparent, "");
    ClientSpan client = server.StartClient("127.0.0.1", 50051);
    client.End(status, message);
    server.End(status, message);
    std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
    EXPECT_THAT(spans, SizeIs(2));
    if (spans.size() != 2) return {};
    return {std::move(spans[1]), std::move(spans[0])};
  }

  std::shared_ptr<InMemorySpans> spans_;
};

TEST_F(TracingTest, ContinuesIncomingTraceThroughServerAndClientSpans) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  ServerSpan server = tracer->StartServer(kPath, kTraceparent, "");
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_THAT(client.traceparent(),
              MatchesRegex(std::string("00-") + kTraceId + "-[0-9a-f]{16}-01"));
  client.End(0);
  server.End(0);

  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(2));
  const SpanRecord& client_span = *spans[0];
  const SpanRecord& server_span = *spans[1];
  EXPECT_EQ(server_span.kind(), SpanKind::kServer);
  EXPECT_EQ(client_span.kind(), SpanKind::kClient);
  EXPECT_EQ(Name(server_span), kSpanName);
  EXPECT_EQ(Name(client_span), kSpanName);
  // incoming parent -> SERVER -> CLIENT -> upstream, one trace.
  EXPECT_EQ(Hex(server_span.trace_id()), kTraceId);
  EXPECT_EQ(Hex(client_span.trace_id()), kTraceId);
  EXPECT_EQ(Hex(server_span.parent_span_id()), kParentSpanId);
  EXPECT_EQ(client_span.parent_span_id(), server_span.span_id());
  EXPECT_NE(server_span.span_id(), client_span.span_id());
  const opentelemetry::trace::SpanContext upstream = Parse(client.traceparent());
  ASSERT_TRUE(upstream.IsValid());
  EXPECT_EQ(upstream.span_id(), client_span.span_id());
  EXPECT_TRUE(upstream.IsSampled());
  EXPECT_EQ(client.tracestate(), "");
}

TEST_F(TracingTest, EveryUpstreamAttemptIsANewClientSpanOfTheSameServerSpan) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  ServerSpan server = tracer->StartServer(kPath, kTraceparent, "");
  ClientSpan first = server.StartClient("127.0.0.1", 50051);
  first.End(14);
  ClientSpan retry = server.StartClient("127.0.0.1", 50052);
  retry.End(0);
  server.End(0);
  EXPECT_NE(first.traceparent(), retry.traceparent());

  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(3));
  EXPECT_EQ(spans[0]->parent_span_id(), spans[2]->span_id());
  EXPECT_EQ(spans[1]->parent_span_id(), spans[2]->span_id());
  EXPECT_EQ(IntAttribute(*spans[1], "server.port"), 50052);
}

TEST_F(TracingTest, PassesTracestateThrough) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  ServerSpan server = tracer->StartServer(kPath, kTraceparent, kTracestate);
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_EQ(client.tracestate(), kTracestate);
  client.End(0);
  server.End(0);

  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(2));
  EXPECT_EQ(spans[0]->trace_state(), kTracestate);
  EXPECT_EQ(spans[1]->trace_state(), kTracestate);
}

TEST_F(TracingTest, StartsNewTraceWithoutTraceparent) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  ServerSpan server = tracer->StartServer(kPath, "", "");
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  client.End(0);
  server.End(0);

  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(2));
  EXPECT_TRUE(spans[1]->trace_id().IsValid());
  EXPECT_FALSE(spans[1]->parent_span_id().IsValid());
  EXPECT_EQ(spans[0]->trace_id(), spans[1]->trace_id());
  EXPECT_EQ(spans[0]->parent_span_id(), spans[1]->span_id());
  const opentelemetry::trace::SpanContext upstream = Parse(client.traceparent());
  EXPECT_EQ(upstream.trace_id(), spans[1]->trace_id());
  EXPECT_EQ(upstream.span_id(), spans[0]->span_id());
}

TEST_F(TracingTest, NewTracesAndSpansGetDistinctRandomIds) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  constexpr int kTraces = 1000;
  for (int i = 0; i < kTraces; ++i) tracer->StartServer(kPath, "", "").End(0);
  std::set<std::string> trace_ids;
  std::set<std::string> span_ids;
  // Ratio sampling reads the trace id's last 8 bytes: they must be random.
  std::set<std::string> low_halves;
  for (const std::unique_ptr<SpanRecord>& span : TakeSpans()) {
    const std::string trace_id = Hex(span->trace_id());
    trace_ids.insert(trace_id);
    low_halves.insert(trace_id.substr(16));
    span_ids.insert(Hex(span->span_id()));
  }
  EXPECT_EQ(trace_ids.size(), static_cast<size_t>(kTraces));
  EXPECT_EQ(span_ids.size(), static_cast<size_t>(kTraces));
  EXPECT_EQ(low_halves.size(), static_cast<size_t>(kTraces));
}

TEST_F(TracingTest, StartsNewTraceOnMalformedTraceparentAndDropsTracestate) {
  const std::string malformed[] = {
      "garbage",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",          // no flags
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",        // short trace id
      "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",       // not hex
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       // zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       // bad version
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // v00 with more
      // W3C: upper-case hex digits make the whole header invalid.
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       // trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",       // span id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",       // flags
  };
  for (const std::string& traceparent : malformed) {
    SCOPED_TRACE(traceparent);
    std::unique_ptr<Tracer> tracer = MakeTracer();
    ServerSpan server = tracer->StartServer(kPath, traceparent, kTracestate);
    ClientSpan client = server.StartClient("127.0.0.1", 50051);
    EXPECT_EQ(client.tracestate(), "");
    EXPECT_THAT(client.traceparent(), MatchesRegex("00-[0-9a-f]{32}-[0-9a-f]{16}-01"));
    EXPECT_THAT(client.traceparent(), ::testing::Not(HasSubstr(kTraceId)));
    client.End(0);
    server.End(0);

    std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
    ASSERT_THAT(spans, SizeIs(2));
    EXPECT_FALSE(spans[1]->parent_span_id().IsValid());
    EXPECT_NE(Hex(spans[1]->trace_id()), kTraceId);
    EXPECT_EQ(spans[0]->parent_span_id(), spans[1]->span_id());
  }
}

TEST_F(TracingTest, NotSampledParentRecordsNothingButPropagates) {
  std::unique_ptr<Tracer> tracer = MakeTracer();  // parentbased_always_on
  ServerSpan server = tracer->StartServer(
      kPath, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", kTracestate);
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_THAT(client.traceparent(),
              MatchesRegex(std::string("00-") + kTraceId + "-[0-9a-f]{16}-00"));
  EXPECT_EQ(client.tracestate(), kTracestate);
  client.End(0);
  server.End(0);
  EXPECT_THAT(TakeSpans(), SizeIs(0));
}

TEST_F(TracingTest, AlwaysOffSamplerRecordsNothingButPropagates) {
  std::unique_ptr<Tracer> tracer =
      MakeTracer(SemconvMode::kDup,
                 Sampler::AlwaysOff());
  ServerSpan server = tracer->StartServer(kPath, "", "");
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_TRUE(Parse(client.traceparent()).IsValid());
  EXPECT_FALSE(Parse(client.traceparent()).IsSampled());
  client.End(0);
  server.End(0);
  EXPECT_THAT(TakeSpans(), SizeIs(0));
}

TEST_F(TracingTest, UnsampledSpanUnderASampledParentSendsTheFlagCleared) {
  // The sampled flag upstream is this gateway's decision, not the parent's.
  std::unique_ptr<Tracer> tracer =
      MakeTracer(SemconvMode::kDup,
                 Sampler::AlwaysOff());
  ServerSpan server = tracer->StartServer(kPath, kTraceparent, "");
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_THAT(client.traceparent(),
              MatchesRegex(std::string("00-") + kTraceId + "-[0-9a-f]{16}-00"));
  client.End(0);
  server.End(0);
  EXPECT_THAT(TakeSpans(), SizeIs(0));
}

TEST_F(TracingTest, DupModeCarriesOldAndNewAttributes) {
  auto [server, client] = EndBoth(SemconvMode::kDup, 5, "no such model");
  ASSERT_NE(server, nullptr);
  for (const SpanRecord* span : {server.get(), client.get()}) {
    SCOPED_TRACE(Name(*span));
    EXPECT_EQ(StringAttribute(*span, "rpc.system"), "grpc");
    EXPECT_EQ(StringAttribute(*span, "rpc.service"), "polymesh.ai.v1.AIService");
    EXPECT_EQ(StringAttribute(*span, "rpc.method"), "polymesh.ai.v1.AIService/Predict");
    EXPECT_EQ(IntAttribute(*span, "rpc.grpc.status_code"), 5);
    EXPECT_EQ(StringAttribute(*span, "rpc.system.name"), "grpc");
    EXPECT_EQ(StringAttribute(*span, "rpc.response.status_code"), "NOT_FOUND");
  }
  EXPECT_EQ(StringAttribute(*client, "server.address"), "127.0.0.1");
  EXPECT_EQ(IntAttribute(*client, "server.port"), 50051);
  EXPECT_FALSE(HasAttribute(*server, "server.address"));
  EXPECT_FALSE(HasAttribute(*server, "server.port"));
}

TEST_F(TracingTest, OldModeCarriesOldAttributesOnly) {
  auto [server, client] = EndBoth(SemconvMode::kOld, 0);
  ASSERT_NE(server, nullptr);
  for (const SpanRecord* span : {server.get(), client.get()}) {
    SCOPED_TRACE(Name(*span));
    EXPECT_EQ(StringAttribute(*span, "rpc.system"), "grpc");
    EXPECT_EQ(StringAttribute(*span, "rpc.service"), "polymesh.ai.v1.AIService");
    EXPECT_EQ(StringAttribute(*span, "rpc.method"), "Predict");
    EXPECT_EQ(IntAttribute(*span, "rpc.grpc.status_code"), 0);
    EXPECT_FALSE(HasAttribute(*span, "rpc.system.name"));
    EXPECT_FALSE(HasAttribute(*span, "rpc.response.status_code"));
  }
  EXPECT_EQ(StringAttribute(*client, "server.address"), "127.0.0.1");
  EXPECT_EQ(IntAttribute(*client, "server.port"), 50051);
}

TEST_F(TracingTest, NewModeCarriesNewAttributesOnly) {
  auto [server, client] = EndBoth(SemconvMode::kNew, 14);
  ASSERT_NE(server, nullptr);
  for (const SpanRecord* span : {server.get(), client.get()}) {
    SCOPED_TRACE(Name(*span));
    EXPECT_EQ(StringAttribute(*span, "rpc.system.name"), "grpc");
    EXPECT_EQ(StringAttribute(*span, "rpc.method"), "polymesh.ai.v1.AIService/Predict");
    EXPECT_EQ(StringAttribute(*span, "rpc.response.status_code"), "UNAVAILABLE");
    EXPECT_FALSE(HasAttribute(*span, "rpc.system"));
    EXPECT_FALSE(HasAttribute(*span, "rpc.service"));
    EXPECT_FALSE(HasAttribute(*span, "rpc.grpc.status_code"));
  }
  EXPECT_EQ(StringAttribute(*client, "server.address"), "127.0.0.1");
  EXPECT_EQ(IntAttribute(*client, "server.port"), 50051);
}

TEST_F(TracingTest, StatusRulesDifferForServerAndClientSpans) {
  const char* const kNames[] = {
      "OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  const std::set<int> kServerErrors = {2, 4, 12, 13, 14, 15};
  for (int code = 0; code <= 16; ++code) {
    SCOPED_TRACE(kNames[code]);
    auto [server, client] = EndBoth(SemconvMode::kDup, code, "the message");
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(StringAttribute(*server, "rpc.response.status_code"), kNames[code]);
    EXPECT_EQ(IntAttribute(*server, "rpc.grpc.status_code"), code);
    EXPECT_EQ(server->status(),
              kServerErrors.count(code) != 0 ? StatusCode::kError : StatusCode::kUnset);
    EXPECT_EQ(client->status(), code != 0 ? StatusCode::kError : StatusCode::kUnset);
    if (client->status() == StatusCode::kError) {
      EXPECT_EQ(std::string(client->status_message()), "the message");
    }
    if (server->status() == StatusCode::kError) {
      EXPECT_EQ(std::string(server->status_message()), "the message");
    }
  }
}

TEST_F(TracingTest, CodeOutOfRangeIsUnknown) {
  auto [server, client] = EndBoth(SemconvMode::kDup, 42);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(IntAttribute(*server, "rpc.grpc.status_code"), 2);
  EXPECT_EQ(StringAttribute(*client, "rpc.response.status_code"), "UNKNOWN");
  EXPECT_EQ(server->status(), StatusCode::kError);
}

TEST_F(TracingTest, SetRouteRecordsRouteAndCluster) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  ServerSpan server = tracer->StartServer(kPath, "", "");
  server.SetRoute("ai", "aiapi");
  server.End(0);
  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(1));
  EXPECT_EQ(StringAttribute(*spans[0], "polymesh.route"), "ai");
  EXPECT_EQ(StringAttribute(*spans[0], "polymesh.cluster"), "aiapi");
}

TEST_F(TracingTest, DestroyingUnendedSpansEndsThemCancelled) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  {
    ServerSpan server = tracer->StartServer(kPath, kTraceparent, "");
    ClientSpan client = server.StartClient("127.0.0.1", 50051);
  }
  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(2));
  const SpanRecord& client = *spans[0];
  const SpanRecord& server = *spans[1];
  EXPECT_EQ(client.kind(), SpanKind::kClient);
  EXPECT_EQ(StringAttribute(client, "rpc.response.status_code"), "CANCELLED");
  EXPECT_EQ(IntAttribute(client, "rpc.grpc.status_code"), 1);
  EXPECT_EQ(client.status(), StatusCode::kError);
  EXPECT_EQ(server.kind(), SpanKind::kServer);
  EXPECT_EQ(StringAttribute(server, "rpc.response.status_code"), "CANCELLED");
  EXPECT_EQ(server.status(), StatusCode::kUnset);
}

TEST_F(TracingTest, MovingSpansEndsEachOnce) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  ServerSpan server = tracer->StartServer(kPath, "", "");
  ServerSpan moved = std::move(server);
  ClientSpan client = moved.StartClient("127.0.0.1", 50051);
  const std::string traceparent = client.traceparent();
  ClientSpan other(std::move(client));
  EXPECT_EQ(other.traceparent(), traceparent);
  // Assigning over an open span ends it as CANCELLED.
  other = moved.StartClient("127.0.0.1", 50052);
  other.End(0);
  other.End(13);  // a second End is ignored
  moved.End(0);
  server.End(0);  // moved-from: nothing
  client.End(0);  // moved-from: nothing
  EXPECT_EQ(client.traceparent(), "");

  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(3));
  EXPECT_EQ(IntAttribute(*spans[0], "server.port"), 50051);
  EXPECT_EQ(StringAttribute(*spans[0], "rpc.response.status_code"), "CANCELLED");
  EXPECT_EQ(IntAttribute(*spans[1], "server.port"), 50052);
  EXPECT_EQ(StringAttribute(*spans[1], "rpc.response.status_code"), "OK");
  EXPECT_EQ(spans[2]->kind(), SpanKind::kServer);
}

TEST_F(TracingTest, SpansMayOutliveTheirTracer) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  ServerSpan server = tracer->StartServer(kPath, kTraceparent, "");
  tracer->Shutdown();
  tracer.reset();
  // Nothing is exported any more, but nothing breaks either.
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_THAT(client.traceparent(), HasSubstr(kTraceId));
  client.End(0);
  server.End(0);
  EXPECT_THAT(TakeSpans(), SizeIs(0));
}

TEST_F(TracingTest, DefaultConstructedSpansDoNothing) {
  ServerSpan server;
  server.SetRoute("ai", "aiapi");
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_EQ(client.traceparent(), "");
  EXPECT_EQ(client.tracestate(), "");
  client.End(0);
  server.End(0);
}

TEST_F(TracingTest, MalformedPathsStillMakeSpans) {
  std::unique_ptr<Tracer> tracer = MakeTracer(SemconvMode::kOld);
  tracer->StartServer("", "", "").End(12);
  tracer->StartServer("/NoMethod", "", "").End(12);
  std::vector<std::unique_ptr<SpanRecord>> spans = TakeSpans();
  ASSERT_THAT(spans, SizeIs(2));
  EXPECT_EQ(Name(*spans[1]), "NoMethod");
  EXPECT_EQ(StringAttribute(*spans[1], "rpc.service"), "NoMethod");
  EXPECT_EQ(StringAttribute(*spans[1], "rpc.method"), "");
}

TEST_F(TracingTest, SpansFromManyThreads) {
  std::unique_ptr<Tracer> tracer = MakeTracer();
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&tracer] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        ServerSpan server = tracer->StartServer(kPath, kTraceparent, "");
        server.StartClient("127.0.0.1", 50051).End(0);
        server.End(0);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(TakeSpans(), SizeIs(2 * kThreads * kCallsPerThread));
}

TEST(DisabledTracingTest, ForwardsContextUnchangedAndMakesNoSpans) {
  absl::StatusOr<std::unique_ptr<Tracer>> tracer =
      Tracer::FromEnvironment(TracerOptions{.disabled = true});
  ASSERT_TRUE(tracer.ok()) << tracer.status();
  // Even a value the propagator would reject passes through as it came.
  for (const char* traceparent : {kTraceparent, "garbage"}) {
    ServerSpan server = (*tracer)->StartServer(kPath, traceparent, " a=b ,c=d");
    server.SetRoute("ai", "aiapi");
    ClientSpan client = server.StartClient("127.0.0.1", 50051);
    EXPECT_EQ(client.traceparent(), traceparent);
    EXPECT_EQ(client.tracestate(), " a=b ,c=d");
    client.End(0);
    server.End(0);
  }
  ServerSpan server = (*tracer)->StartServer(kPath, "", "");
  ClientSpan client = server.StartClient("127.0.0.1", 50051);
  EXPECT_EQ(client.traceparent(), "");
  EXPECT_EQ(client.tracestate(), "");
  (*tracer)->Shutdown();
}

}  // namespace
}  // namespace polymesh::observability
