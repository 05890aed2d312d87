#include "message_codec.h"

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"

namespace polymesh::cli {

absl::StatusOr<std::string> MessageCodec::JsonToBinary(const google::protobuf::Descriptor& type,
                                                       absl::string_view json) {
  std::unique_ptr<google::protobuf::Message> message(factory_.GetPrototype(&type)->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message.get(), options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the JSON is not a ", type.full_name(), ": ",
                                                   std::string(status.message())));
  }
  return message->SerializeAsString();
}

absl::StatusOr<std::string> MessageCodec::BinaryToJson(const google::protobuf::Descriptor& type,
                                                       absl::string_view bytes,
                                                       const JsonStyle& style) {
  std::unique_ptr<google::protobuf::Message> message(factory_.GetPrototype(&type)->New());
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("the response is not a valid ", type.full_name(), " message"));
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = style.pretty;
  options.always_print_primitive_fields = style.emit_defaults;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(*message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot write a ", type.full_name(), " as JSON: ",
                                            std::string(status.message())));
  }
  // The pretty printer ends with a newline; the compact one does not.
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

std::vector<std::string> SplitJsonLines(absl::string_view text) {
  std::vector<std::string> objects;
  bool one_per_line = true;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!absl::StartsWith(line, "{") || !absl::EndsWith(line, "}")) one_per_line = false;
    objects.emplace_back(line);
  }
  if (one_per_line) return objects;
  return {std::string(absl::StripAsciiWhitespace(text))};
}

}  // namespace polymesh::cli
