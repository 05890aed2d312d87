#include "observability/span_record.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gtest/gtest.h"
#include "opentelemetry/trace/span_metadata.h"

namespace polymesh::observability {
namespace {

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

TEST(SpanRecordTest, ARootSpanHasNoParent) {
  SpanRecord record;
  EXPECT_FALSE(record.parent_span_id().IsValid());
  EXPECT_EQ(record.trace_state(), "");
}

}  // namespace
}  // namespace polymesh::observability
