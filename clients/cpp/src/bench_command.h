// `polymesh bench`: its flags, their checks, the run (load.h), and the
// report: a progress line on stderr once a second, a human summary, and a
// JSON document whose fields are stable (docs/cli.md lists them; other tools
// read them).
//
// Usage:
//
//   return RunBenchCommand({"--rate", "1000", "--duration", "5s",
//                           "polymesh.testing.v1.EchoService/Unary", "{}"});
#ifndef POLYMESH_CLIENTS_CPP_SRC_BENCH_COMMAND_H_
#define POLYMESH_CLIENTS_CPP_SRC_BENCH_COMMAND_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "args.h"
#include "load.h"

namespace polymesh::cli {

// The help text of `polymesh bench`.
extern const char kBenchHelp[];

// The flags `polymesh bench` accepts.
const std::vector<FlagSpec>& BenchFlags();

// A checked `polymesh bench` command line.
struct BenchOptions {
  // The load, less what the method and its request decide (path, kind,
  // request).
  LoadSpec spec;
  // The method as named on the command line.
  std::string method;
  // The request as JSON (the second positional argument), if given.
  std::optional<std::string> json;
  // --data-file: a file holding one serialized request message.
  std::optional<std::string> data_file;
  // --descriptor-set files.
  std::vector<std::string> descriptor_sets;
  // --json: where the JSON report goes ("-" for stdout); empty: none.
  std::string json_out;
  // --quiet: no progress line.
  bool quiet = false;
  // Whether --stream-messages was given.
  bool stream_messages_given = false;
};

// Checks the flags and arguments of `polymesh bench`. INVALID_ARGUMENT says
// what is wrong (a usage error).
absl::StatusOr<BenchOptions> ParseBenchOptions(const ParsedArgs& args);

// The JSON report of a run (one object, one line, ending in a newline).
std::string BenchReportJson(const BenchOptions& options, const LoadResult& result);

// The human summary of a run (several lines).
std::string BenchSummary(const BenchOptions& options, const LoadResult& result);

// Runs `polymesh bench` with the words after the verb; returns the exit code.
int RunBenchCommand(const std::vector<std::string>& args);

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_BENCH_COMMAND_H_
