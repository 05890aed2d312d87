// Requests and responses of any method of the contract registry, as JSON:
// JSON text to the binary protobuf a call sends, and binary protobuf back to
// JSON, through DynamicMessage and protobuf's JSON mapping
// (google::protobuf::util), so no generated code is needed.
//
// Usage:
//
//   const google::protobuf::MethodDescriptor* method = registry.FindMethod("pkg.Svc/M");
//   MessageCodec codec;
//   absl::StatusOr<std::string> request = codec.JsonToBinary(*method->input_type(), "{}");
//   absl::StatusOr<std::string> json =
//       codec.BinaryToJson(*method->output_type(), bytes, JsonStyle{});
//   absl::StatusOr<std::vector<std::string>> lines = SplitJsonLines(stdin_text);
#ifndef POLYMESH_CLIENTS_CPP_SRC_MESSAGE_CODEC_H_
#define POLYMESH_CLIENTS_CPP_SRC_MESSAGE_CODEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"

namespace polymesh::cli {

// How JSON is written.
struct JsonStyle {
  // Indented over several lines instead of one line.
  bool pretty = false;
  // Fields at their default value are written too.
  bool emit_defaults = false;
};

// Converts between JSON and binary messages of a descriptor pool's types.
// Not thread-safe (it caches the dynamic message prototypes).
class MessageCodec {
 public:
  MessageCodec() = default;
  MessageCodec(const MessageCodec&) = delete;
  MessageCodec& operator=(const MessageCodec&) = delete;

  // Parses `json` (one JSON object; unknown fields are an error) as a
  // `type` and serializes it. INVALID_ARGUMENT with the parser's
  // explanation, naming the type.
  absl::StatusOr<std::string> JsonToBinary(const google::protobuf::Descriptor& type,
                                           absl::string_view json);

  // Parses `bytes` as a `type` and writes it as JSON. DATA_LOSS when the
  // bytes are not a `type`.
  absl::StatusOr<std::string> BinaryToJson(const google::protobuf::Descriptor& type,
                                           absl::string_view bytes, const JsonStyle& style);

 private:
  google::protobuf::DynamicMessageFactory factory_;
};

// Splits text into JSON objects, one per non-blank line (JSON Lines), or,
// when the text does not start a new object on each line, the whole text as
// one object (a pretty-printed request). Blank lines are skipped.
std::vector<std::string> SplitJsonLines(absl::string_view text);

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_MESSAGE_CODEC_H_
