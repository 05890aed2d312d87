// `polymesh call`: one call of any method of the contracts, JSON in and
// out, through gRPC C++'s generic stub (every call kind: the requests come
// from the argument or stdin, one JSON object per line for client streams;
// each response is printed as it arrives), and `polymesh call --list`.
//
// Usage:
//
//   return RunCallCommand({"--deadline", "2s", "polymesh.testing.v1.EchoService/Unary",
//                          R"({"text": "hi"})"});
#ifndef POLYMESH_CLIENTS_CPP_SRC_CALL_COMMAND_H_
#define POLYMESH_CLIENTS_CPP_SRC_CALL_COMMAND_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "args.h"
#include "contracts/contract_registry.h"

namespace polymesh::cli {

// The help text of `polymesh call`.
extern const char kCallHelp[];

// The flags `polymesh call` accepts.
const std::vector<FlagSpec>& CallFlags();

// The listing `polymesh call --list [SERVICE]` prints: every service of
// the registry and its methods (kind, request and response types), or only
// those of the services whose name starts with `filter`.
std::string ListContracts(const gateway::ContractRegistry& registry, absl::string_view filter);

// Describes the `grpc-status-details-bin` of a failed call (a serialized
// google.rpc.Status): its code, message and each detail, as JSON when the
// registry knows the detail's type, else by its type URL. Empty for empty
// details; the raw size when they are not a google.rpc.Status.
std::string DescribeStatusDetails(const gateway::ContractRegistry& registry,
                                  absl::string_view details);

// Runs `polymesh call` with the words after the verb; returns the exit code.
int RunCallCommand(const std::vector<std::string>& args);

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_CALL_COMMAND_H_
