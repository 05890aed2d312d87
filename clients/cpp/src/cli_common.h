// What the polymesh verbs share: exit codes, the one error format
// (`polymesh: CODE: message` on stderr), the contract registry they load
// (--descriptor-set, else $POLYMESH_DESCRIPTOR_SET, else the build's), and
// method names.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<ContractRegistry>> registry =
//       LoadRegistry(args.Values("descriptor-set"));
//   if (!registry.ok()) return Fail(registry.status());     // exit 2
//   absl::StatusOr<const MethodDescriptor*> method = FindMethod(**registry, "pkg.S/M");
#ifndef POLYMESH_CLIENTS_CPP_SRC_CLI_COMMON_H_
#define POLYMESH_CLIENTS_CPP_SRC_CLI_COMMON_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "contracts/contract_registry.h"
#include "google/protobuf/descriptor.h"

namespace polymesh::cli {

// Exit codes of every verb.
inline constexpr int kExitOk = 0;
// A bad command line: unknown flag, missing argument, malformed value.
inline constexpr int kExitUsage = 1;
// Bad input: unreadable descriptor set or file, unknown method, JSON that is
// not the method's request type.
inline constexpr int kExitBadInput = 2;
// `bench` only: the run completed but some calls failed.
inline constexpr int kExitCallsFailed = 3;
// A call ended with gRPC status code C (1..16): exit 10 + C.
inline constexpr int kExitGrpcBase = 10;

// The exit code for a call that ended with gRPC status `code` (0 -> 0).
inline int ExitCodeForGrpcStatus(int code) { return code == 0 ? kExitOk : kExitGrpcBase + code; }

// Prints `polymesh: CODE_NAME: message` on stderr.
void PrintError(absl::string_view code_name, absl::string_view message);

// Prints a usage error (`polymesh: USAGE: ...`, then a hint to `help`) and
// returns kExitUsage.
int UsageError(absl::string_view verb, absl::string_view message);

// Prints `status` (its canonical code name and message) and returns
// kExitBadInput.
int BadInput(const absl::Status& status);

// The descriptor set used when none is named: $POLYMESH_DESCRIPTOR_SET, else
// the one the build writes.
std::string DefaultDescriptorSet();

// Loads the registry from `paths` (DefaultDescriptorSet() when empty). The
// error names the file and says how to name another.
absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> LoadRegistry(
    const std::vector<std::string>& paths);

// The method `name` names ("/pkg.Svc/M", "pkg.Svc/M" or "pkg.Svc.M");
// NOT_FOUND that says how to list the methods, naming the service's methods
// when only the method part is wrong.
absl::StatusOr<const google::protobuf::MethodDescriptor*> FindMethod(
    const gateway::ContractRegistry& registry, absl::string_view name);

// The HTTP/2 :path of a method name in any of the three forms
// ("pkg.Svc.M" -> "/pkg.Svc/M"), without a registry.
std::string MethodPath(absl::string_view name);

// The :path of a method ("/pkg.Svc/M").
std::string MethodPath(const google::protobuf::MethodDescriptor& method);

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_CLI_COMMON_H_
