#include "observability/span_record.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gtest/gtest.h"
#include "opentelemetry/trace/span_context.h"
#include "opentelemetry/trace/span_id.h"
#include "opentelemetry/trace/span_metadata.h"
#include "opentelemetry/trace/trace_flags.h"
#include "opentelemetry/trace/trace_id.h"
#include "opentelemetry/trace/trace_state.h"

namespace polymesh::observability {
namespace {

namespace trace_api = ::opentelemetry::trace;

TEST(SpanRecordTest, AttributesKeepTheirTypeAndTheLastValueWins) {
  SpanRecord record;
  record.SetAttribute("literal", "text");  // a string, not a pointer turned bool
  record.SetAttribute("port", uint16_t{50051});
  record.SetAttribute("flag", true);
  record.SetAttribute("ratio", 0.5);
  record.SetAttribute("port", int64_t{8080});
  EXPECT_EQ(record.attribute("literal"), SpanRecord::Value(std::string_view("text")));
  EXPECT_EQ(record.attribute("port"), SpanRecord::Value(int64_t{8080}));
  EXPECT_EQ(record.attribute("flag"), SpanRecord::Value(true));
  EXPECT_EQ(record.attribute("ratio"), SpanRecord::Value(0.5));
  EXPECT_EQ(record.attribute("absent"), std::nullopt);
}

TEST(SpanRecordTest, EmptyTextIsKeptAsEmpty) {
  SpanRecord record;
  record.SetName(std::string_view());  // null data, as a default view has
  record.SetAttribute("method", std::string_view());
  EXPECT_EQ(record.name(), "");
  EXPECT_EQ(record.attribute("method"), SpanRecord::Value(std::string_view("")));
}

TEST(SpanRecordTest, TextPastTheInlineBufferStaysReadable) {
  SpanRecord record;
  record.SetName("polymesh.ai.v1.AIService/Predict");
  const std::string value(5000, 'v');
  record.SetAttribute("long", value);
  EXPECT_EQ(record.name(), "polymesh.ai.v1.AIService/Predict");
  EXPECT_EQ(std::get<std::string_view>(*record.attribute("long")), value);
}

TEST(SpanRecordTest, StatusMessageIsKeptOnlyWithAnError) {
  SpanRecord record;
  record.SetStatus(opentelemetry::trace::StatusCode::kOk, "fine");
  EXPECT_EQ(record.status_message(), "");
  record.SetStatus(opentelemetry::trace::StatusCode::kError, "upstream unavailable");
  EXPECT_EQ(record.status(), opentelemetry::trace::StatusCode::kError);
  EXPECT_EQ(record.status_message(), "upstream unavailable");
}

TEST(SpanRecordTest, IdentityReadsBackAndARootSpanHasNoParent) {
  const uint8_t trace_bytes[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const uint8_t span_bytes[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  const uint8_t parent_bytes[8] = {2, 2, 2, 2, 2, 2, 2, 2};
  const trace_api::TraceId trace_id(trace_bytes);
  const trace_api::SpanId span_id(span_bytes);
  const trace_api::SpanId parent_id(parent_bytes);

  SpanRecord child;
  child.SetIdentity(trace_api::SpanContext(trace_id, span_id, trace_api::TraceFlags(1), false,
                                           trace_api::TraceState::FromHeader("k=v")),
                    parent_id);
  EXPECT_EQ(child.trace_id(), trace_id);
  EXPECT_EQ(child.span_id(), span_id);
  EXPECT_EQ(child.parent_span_id(), parent_id);
  EXPECT_EQ(child.trace_state(), "k=v");

  SpanRecord root;
  root.SetIdentity(trace_api::SpanContext(trace_id, span_id, trace_api::TraceFlags(1), false),
                   trace_api::SpanId());
  EXPECT_EQ(root.span_id(), span_id);
  EXPECT_FALSE(root.parent_span_id().IsValid());
  EXPECT_EQ(root.trace_state(), "");
}

}  // namespace
}  // namespace polymesh::observability
