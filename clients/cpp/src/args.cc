#include "args.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace polymesh::cli {
namespace {

const FlagSpec* FindLong(const std::vector<FlagSpec>& flags, absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

const FlagSpec* FindShort(const std::vector<FlagSpec>& flags, char name) {
  for (const FlagSpec& flag : flags) {
    if (flag.short_name != 0 && flag.short_name == name) return &flag;
  }
  return nullptr;
}

bool IsTokenChar(char c) {
  return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z') || c == '-' || c == '_' || c == '.';
}

}  // namespace

std::optional<std::string> ParsedArgs::Value(absl::string_view name) const {
  auto found = values_.find(name);
  if (found == values_.end() || found->second.empty()) return std::nullopt;
  return found->second.back();
}

std::vector<std::string> ParsedArgs::Values(absl::string_view name) const {
  auto found = values_.find(name);
  return found == values_.end() ? std::vector<std::string>{} : found->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>& flags,
                                     const std::vector<std::string>& args) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional_.insert(parsed.positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional_.push_back(arg);
      continue;
    }
    const FlagSpec* flag = nullptr;
    std::optional<std::string> inline_value;
    std::string shown;  // the flag as the user wrote it, for messages
    if (absl::StartsWith(arg, "--")) {
      absl::string_view name = absl::string_view(arg).substr(2);
      if (const size_t eq = name.find('='); eq != absl::string_view::npos) {
        inline_value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
      }
      shown = absl::StrCat("--", name);
      flag = FindLong(flags, name);
    } else {
      shown = arg.substr(0, 2);
      flag = FindShort(flags, arg[1]);
      if (arg.size() > 2) inline_value = arg.substr(2);
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", shown));
    }
    if (flag->kind == FlagSpec::kSwitch) {
      if (inline_value.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(shown, " takes no value"));
      }
      parsed.values_[flag->name].push_back("");
      continue;
    }
    if (!inline_value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(shown, " needs a value"));
      }
      inline_value = args[++i];
    }
    parsed.values_[flag->name].push_back(*std::move(inline_value));
  }
  return parsed;
}

absl::StatusOr<absl::Duration> ParseDurationValue(absl::string_view flag,
                                                  absl::string_view value) {
  absl::Duration duration;
  double seconds = 0;
  if (absl::SimpleAtod(value, &seconds) && std::isfinite(seconds)) {
    duration = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(value, &duration) || duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " takes a duration such as 2s, 250ms or 1m30s, not \"", value, "\""));
  }
  if (duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " cannot be negative"));
  }
  return duration;
}

absl::StatusOr<int64_t> ParseIntValue(absl::string_view flag, absl::string_view value,
                                      int64_t min, int64_t max) {
  int64_t number = 0;
  if (!absl::SimpleAtoi(value, &number) || number < min || number > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " takes a whole number from ",
                                                   min, " to ", max, ", not \"", value, "\""));
  }
  return number;
}

absl::StatusOr<double> ParseDoubleValue(absl::string_view flag, absl::string_view value,
                                        double min, double max) {
  double number = 0;
  if (!absl::SimpleAtod(value, &number) || !std::isfinite(number) || number < min ||
      number > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " takes a number from ", min,
                                                   " to ", max, ", not \"", value, "\""));
  }
  return number;
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view value) {
  HostPort result;
  result.authority = std::string(value);
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(value, "[")) {
    const size_t close = value.find(']');
    if (close == absl::string_view::npos || close + 1 >= value.size() ||
        value[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("expected [IPV6]:PORT, not \"", value, "\""));
    }
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    const size_t colon = value.rfind(':');
    if (colon == absl::string_view::npos || value.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected HOST:PORT, not \"", value, "\""));
    }
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  int number = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected HOST:PORT with a port from 1 to 65535, not \"", value, "\""));
  }
  result.host = std::string(host);
  result.port = static_cast<uint16_t>(number);
  return result;
}

absl::StatusOr<MetadataEntry> ParseMetadata(absl::string_view value) {
  // The key ends at the first ':' or '=', whichever comes first.
  const size_t split = value.find_first_of(":=");
  if (split == 0 || split == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata takes \"key: value\", not \"", value, "\""));
  }
  MetadataEntry entry;
  entry.key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value.substr(0, split)));
  entry.value = std::string(absl::StripAsciiWhitespace(value.substr(split + 1)));
  for (const char c : entry.key) {
    if (!IsTokenChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata key \"", entry.key, "\" may only hold a-z, 0-9, '-', '_' and '.'"));
    }
  }
  if (entry.key.empty()) return absl::InvalidArgumentError("empty metadata key");
  if (absl::StartsWith(entry.key, "grpc-") || entry.key == "te" ||
      entry.key == "content-type" || entry.key == "connection" || entry.key == "host") {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata key \"", entry.key, "\" is reserved by gRPC or HTTP/2"));
  }
  if (absl::EndsWith(entry.key, "-bin")) {
    std::string decoded;
    if (!absl::Base64Unescape(entry.value, &decoded)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata key \"", entry.key, "\" ends in -bin: its value must be base64"));
    }
  } else {
    for (const char c : entry.value) {
      if (c < 0x20 || c > 0x7e) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metadata value of \"", entry.key,
            "\" must be printable ASCII (binary values go in a -bin key, base64)"));
      }
    }
  }
  return entry;
}

}  // namespace polymesh::cli
