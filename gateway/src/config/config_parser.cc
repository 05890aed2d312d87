#include "config/config_parser.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "yaml-cpp/yaml.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

absl::string_view NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "an undefined value";
  }
}

// Walks a YAML tree against a message descriptor, filling the message and
// recording the position of every field.
class YamlWalker {
 public:
  explicit YamlWalker(ParsedConfig& parsed) : parsed_(parsed) {}

  absl::Status WalkMessage(const YAML::Node& node, Message& message,
                           const std::string& path) {
    Record(path, node);
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) {
      return Error(path, absl::StrCat("want a mapping of ",
                                      message.GetDescriptor()->name(),
                                      " fields, got ", NodeKind(node)));
    }
    const Descriptor* descriptor = message.GetDescriptor();
    const Reflection* reflection = message.GetReflection();
    absl::flat_hash_set<std::string> seen;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      const YAML::Node& value = entry.second;
      if (!key.IsScalar()) {
        Record(path, key);
        return Error(path, "keys must be field names");
      }
      const std::string& name = key.Scalar();
      const std::string field_path = path.empty() ? name : absl::StrCat(path, ".", name);
      const FieldDescriptor* field = descriptor->FindFieldByName(name);
      if (field == nullptr) {
        Record(field_path, key);
        return Error(field_path, absl::StrCat("unknown field \"", name, "\" in ",
                                              descriptor->name(), " (known: ",
                                              KnownFields(*descriptor), ")"));
      }
      if (!seen.insert(name).second) {
        Record(field_path, key);
        return Error(field_path, "field set twice");
      }
      if (const auto* oneof = field->containing_oneof();
          oneof != nullptr && reflection->HasOneof(message, oneof)) {
        Record(field_path, key);
        return Error(field_path,
                     absl::StrCat("only one of ", OneofFields(*oneof),
                                  " may be set"));
      }
      Record(field_path, value.IsNull() ? key : value);
      if (field->is_repeated()) {
        if (value.IsNull()) continue;
        if (!value.IsSequence()) {
          return Error(field_path, absl::StrCat("want a list, got ", NodeKind(value)));
        }
        for (size_t i = 0; i < value.size(); ++i) {
          RETURN_IF_ERROR(WalkValue(value[i], message, *field,
                                    absl::StrCat(field_path, "[", i, "]")));
        }
      } else {
        RETURN_IF_ERROR(WalkValue(value, message, *field, field_path));
      }
    }
    return absl::OkStatus();
  }

 private:
  static std::string KnownFields(const Descriptor& descriptor) {
    std::vector<std::string> names;
    for (int i = 0; i < descriptor.field_count(); ++i) {
      names.push_back(descriptor.field(i)->name());
    }
    return absl::StrJoin(names, ", ");
  }

  static std::string OneofFields(const google::protobuf::OneofDescriptor& oneof) {
    std::vector<std::string> names;
    for (int i = 0; i < oneof.field_count(); ++i) {
      names.push_back(oneof.field(i)->name());
    }
    return absl::StrJoin(names, ", ");
  }

  // Fills one value (or one item of a repeated field) of `field`.
  absl::Status WalkValue(const YAML::Node& node, Message& message,
                         const FieldDescriptor& field, const std::string& path) {
    Record(path, node);
    const Reflection* reflection = message.GetReflection();
    const bool repeated = field.is_repeated();
    if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Message* child = repeated ? reflection->AddMessage(&message, &field)
                                : reflection->MutableMessage(&message, &field);
      if (field.message_type()->full_name() == "google.protobuf.Duration") {
        return WalkDuration(node, static_cast<google::protobuf::Duration&>(*child),
                            path);
      }
      return WalkMessage(node, *child, path);
    }
    if (node.IsNull() && !repeated) return absl::OkStatus();
    if (!node.IsScalar()) {
      return Error(path, absl::StrCat("want ", TypeName(field), ", got ",
                                      NodeKind(node)));
    }
    const std::string& text = node.Scalar();
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        repeated ? reflection->AddString(&message, &field, text)
                 : reflection->SetString(&message, &field, text);
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool value;
        if (text == "true") {
          value = true;
        } else if (text == "false") {
          value = false;
        } else {
          return Error(path, absl::StrCat("want true or false, got \"", text, "\""));
        }
        repeated ? reflection->AddBool(&message, &field, value)
                 : reflection->SetBool(&message, &field, value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t value;
        const int64_t max = field.cpp_type() == FieldDescriptor::CPPTYPE_INT32
                                ? int64_t{INT32_MAX}
                                : INT64_MAX;
        const int64_t min = field.cpp_type() == FieldDescriptor::CPPTYPE_INT32
                                ? int64_t{INT32_MIN}
                                : INT64_MIN;
        if (!absl::SimpleAtoi(text, &value) || value > max || value < min) {
          return Error(path, absl::StrCat("want ", TypeName(field), ", got \"",
                                          text, "\""));
        }
        if (field.cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
          repeated ? reflection->AddInt32(&message, &field, static_cast<int32_t>(value))
                   : reflection->SetInt32(&message, &field, static_cast<int32_t>(value));
        } else {
          repeated ? reflection->AddInt64(&message, &field, value)
                   : reflection->SetInt64(&message, &field, value);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t value;
        const uint64_t max = field.cpp_type() == FieldDescriptor::CPPTYPE_UINT32
                                 ? uint64_t{UINT32_MAX}
                                 : UINT64_MAX;
        if (text.empty() || text[0] == '-' || !absl::SimpleAtoi(text, &value) ||
            value > max) {
          return Error(path, absl::StrCat("want ", TypeName(field), ", got \"",
                                          text, "\""));
        }
        if (field.cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
          repeated ? reflection->AddUInt32(&message, &field, static_cast<uint32_t>(value))
                   : reflection->SetUInt32(&message, &field, static_cast<uint32_t>(value));
        } else {
          repeated ? reflection->AddUInt64(&message, &field, value)
                   : reflection->SetUInt64(&message, &field, value);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double value;
        if (!absl::SimpleAtod(text, &value)) {
          return Error(path, absl::StrCat("want a number, got \"", text, "\""));
        }
        if (field.cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
          repeated ? reflection->AddDouble(&message, &field, value)
                   : reflection->SetDouble(&message, &field, value);
        } else {
          repeated ? reflection->AddFloat(&message, &field, static_cast<float>(value))
                   : reflection->SetFloat(&message, &field, static_cast<float>(value));
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* value = field.enum_type()->FindValueByName(text);
        if (value == nullptr) {
          return Error(path, absl::StrCat("unknown ", field.enum_type()->name(),
                                          " value \"", text, "\""));
        }
        repeated ? reflection->AddEnum(&message, &field, value)
                 : reflection->SetEnum(&message, &field, value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    return Error(path, "unsupported field type");
  }

  absl::Status WalkDuration(const YAML::Node& node,
                            google::protobuf::Duration& duration,
                            const std::string& path) {
    if (node.IsNull()) return absl::OkStatus();
    absl::Duration value;
    if (!node.IsScalar() || !absl::ParseDuration(node.Scalar(), &value) ||
        value == absl::InfiniteDuration() || value < absl::ZeroDuration()) {
      return Error(path,
                   absl::StrCat("invalid duration ",
                                node.IsScalar() ? absl::StrCat("\"", node.Scalar(), "\"")
                                                : std::string(NodeKind(node)),
                                ": write a non-negative number with a unit, "
                                "such as \"1.5s\", \"250ms\" or \"2m\""));
    }
    const int64_t seconds = absl::IDivDuration(value, absl::Seconds(1), &value);
    duration.set_seconds(seconds);
    duration.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(value)));
    return absl::OkStatus();
  }

  static std::string TypeName(const FieldDescriptor& field) {
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        return "a string";
      case FieldDescriptor::CPPTYPE_BOOL:
        return "true or false";
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64:
        return "a non-negative integer";
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
        return "an integer";
      default:
        return std::string(field.type_name());
    }
  }

  void Record(const std::string& path, const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null() || mark.line < 0) return;
    parsed_.positions.insert_or_assign(
        path, SourcePosition{mark.line + 1, mark.column + 1});
  }

  absl::Status Error(const std::string& path, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(parsed_.Where(path), what));
  }

  ParsedConfig& parsed_;
};

}  // namespace

std::string ParsedConfig::Where(absl::string_view path) const {
  absl::string_view prefix = path;
  while (true) {
    if (auto it = positions.find(prefix); it != positions.end()) {
      return absl::StrCat(source_name, ":", it->second.line, ":",
                          it->second.column, ": ", path.empty() ? "" : path,
                          path.empty() ? "" : ": ");
    }
    if (prefix.empty()) break;
    const size_t cut = prefix.find_last_of(".[");
    prefix = cut == absl::string_view::npos ? absl::string_view() : prefix.substr(0, cut);
  }
  return absl::StrCat(source_name, ": ", path, path.empty() ? "" : ": ");
}

absl::StatusOr<ParsedConfig> ParseConfigYaml(absl::string_view yaml,
                                             absl::string_view source_name) {
  ParsedConfig parsed;
  parsed.source_name = std::string(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", e.mark.line + 1, ":", e.mark.column + 1,
                     ": malformed YAML: ", e.msg));
  }
  if (root.IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": the configuration is empty"));
  }
  try {
    RETURN_IF_ERROR(YamlWalker(parsed).WalkMessage(root, parsed.config, ""));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", e.mark.line + 1, ":", e.mark.column + 1,
                     ": ", e.msg));
  }
  return parsed;
}

}  // namespace polymesh::gateway
