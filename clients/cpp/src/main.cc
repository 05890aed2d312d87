// polymesh: the command-line client of the mesh.
//
//   polymesh call [flags] METHOD [JSON]    one call of any method, JSON in and out
//   polymesh bench [flags] METHOD [JSON]   load: throughput, latency, errors
//
// `polymesh help VERB` or `polymesh VERB --help` explains each verb.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_command.h"
#include "call_command.h"
#include "cli_common.h"

namespace polymesh::cli {
namespace {

constexpr char kHelp[] =
    R"(usage: polymesh VERB [flags] ...

The command-line client of polymesh, for any gRPC server and the gateway in
front of the mesh (default target 127.0.0.1:8080).

verbs:
  call    one call of any method of the contracts, JSON in and out; --list
          lists the services and methods
  bench   a load generator over HTTP/2: closed or open loop, unary and
          streaming calls, latency percentiles, errors by status code, JSON
  help    this help, or `polymesh help VERB`

Methods and their types come from the contract registry: the descriptor sets
named by --descriptor-set, else $POLYMESH_DESCRIPTOR_SET, else the one the
build writes from proto/.

exit status: 0 ok; 1 usage error; 2 bad input; 3 bench: some calls failed;
10 + gRPC status code when a call ended with that status (`polymesh call
--help` lists them).
)";

int Main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kHelp, stderr);
    return kExitUsage;
  }
  const std::string verb = args[0];
  args.erase(args.begin());
  if (verb == "call") return RunCallCommand(args);
  if (verb == "bench") return RunBenchCommand(args);
  if (verb == "help" || verb == "--help" || verb == "-h") {
    if (!args.empty() && args[0] == "call") {
      std::fputs(kCallHelp, stdout);
    } else if (!args.empty() && args[0] == "bench") {
      std::fputs(kBenchHelp, stdout);
    } else {
      std::fputs(kHelp, stdout);
    }
    return kExitOk;
  }
  PrintError("USAGE", "unknown verb \"" + verb + "\" (call, bench or help)");
  return kExitUsage;
}

}  // namespace
}  // namespace polymesh::cli

int main(int argc, char** argv) { return polymesh::cli::Main(argc, argv); }
