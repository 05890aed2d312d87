// Command-line parsing for the polymesh verbs: a declared list of flags per
// verb (long `--name`, optional one-letter `-x`, with or without a value,
// repeatable or not), positional arguments, and the value parsers the verbs
// share (durations, HOST:PORT, `key: value` metadata, bounded numbers).
//
// Usage:
//
//   static const std::vector<FlagSpec> kFlags = {
//       {"target", 0, FlagSpec::kValue}, {"header", 'H', FlagSpec::kRepeated},
//       {"list", 0, FlagSpec::kSwitch}};
//   absl::StatusOr<ParsedArgs> args = ParseArgs(kFlags, {"-H", "a: b", "/pkg.S/M"});
//   args->Has("list");                // false
//   args->Values("header");           // {"a: b"}
//   args->positional();               // {"/pkg.S/M"}
//   absl::StatusOr<absl::Duration> d = ParseDurationValue("deadline", "250ms");
#ifndef POLYMESH_CLIENTS_CPP_SRC_ARGS_H_
#define POLYMESH_CLIENTS_CPP_SRC_ARGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace polymesh::cli {

// One flag a verb accepts.
struct FlagSpec {
  // What the flag takes.
  enum Kind {
    kSwitch,    // no value: `--list`
    kValue,     // one value, the last one given wins: `--target HOST:PORT`
    kRepeated,  // a value, any number of times: `-H k:v -H k2:v2`
  };
  // The long name, without the dashes.
  std::string name;
  // The one-letter name (`-H`), or 0 for none.
  char short_name = 0;
  // What it takes.
  Kind kind = kSwitch;
};

// The flags and positional arguments of one command line.
class ParsedArgs {
 public:
  // Whether the flag was given.
  bool Has(absl::string_view name) const { return values_.contains(name); }
  // The last value of a flag, or nullopt when it was not given.
  std::optional<std::string> Value(absl::string_view name) const;
  // Every value of a flag, in order (empty when not given).
  std::vector<std::string> Values(absl::string_view name) const;
  // The arguments that are not flags, in order.
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>&,
                                              const std::vector<std::string>&);
  absl::flat_hash_map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Parses `args` (the words after the verb) against `flags`. Values come as
// `--name value`, `--name=value`, `-x value` or `-xvalue`; `--` ends the
// flags; a lone `-` is positional (stdin). INVALID_ARGUMENT names the flag
// for an unknown flag, a missing value, or a value given to a switch.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<FlagSpec>& flags,
                                     const std::vector<std::string>& args);

// A duration: a number with a unit ("2s", "250ms", "1m30s", "1.5h") or a
// bare number of seconds ("2.5"). INVALID_ARGUMENT naming `flag` when it is
// malformed or negative.
absl::StatusOr<absl::Duration> ParseDurationValue(absl::string_view flag,
                                                  absl::string_view value);

// An integer in [min, max]; INVALID_ARGUMENT naming `flag` otherwise.
absl::StatusOr<int64_t> ParseIntValue(absl::string_view flag, absl::string_view value,
                                      int64_t min, int64_t max);

// A number in [min, max]; INVALID_ARGUMENT naming `flag` otherwise.
absl::StatusOr<double> ParseDoubleValue(absl::string_view flag, absl::string_view value,
                                        double min, double max);

// A host and a port.
struct HostPort {
  // A host name or numeric address, without IPv6 brackets.
  std::string host;
  // The TCP port, 1..65535.
  uint16_t port = 0;
  // HOST:PORT as given (brackets kept), for :authority.
  std::string authority;
};

// Parses HOST:PORT or [IPV6]:PORT. INVALID_ARGUMENT when malformed.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view value);

// One request metadata entry.
struct MetadataEntry {
  // The key, lower-cased.
  std::string key;
  // The value as given (for `-bin` keys, base64 text).
  std::string value;
};

// Parses `key: value` (or `key=value`): the key is lower-cased and must be a
// valid HTTP/2 header name that is not reserved by gRPC or HTTP/2 (`grpc-*`,
// content-type, te, connection, host); spaces around the
// value are dropped; a `-bin` key's value must be base64. INVALID_ARGUMENT
// explains what is wrong.
absl::StatusOr<MetadataEntry> ParseMetadata(absl::string_view value);

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_ARGS_H_
