// The contracts of a server, asked of it through gRPC server reflection
// (grpc.reflection.v1.ServerReflection, or v1alpha when the server has only
// that one), for `polymesh call --reflect`: the files that define the
// services asked for, and every file they import, as a contract registry.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> registry =
//       RegistryFromReflection(*channel, {"polymesh.testing.v1.EchoService"},
//                              absl::Seconds(10));
//   // {} asks for every service the server lists.
#ifndef POLYMESH_CLIENTS_CPP_SRC_REFLECTION_CLIENT_H_
#define POLYMESH_CLIENTS_CPP_SRC_REFLECTION_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "contracts/contract_registry.h"
#include "grpcpp/channel.h"

namespace polymesh::cli {

// Asks the server on `channel` for the files that define `services` (every
// service it lists when empty) and their imports, within `timeout`. The
// error says what failed: UNIMPLEMENTED when the server has no reflection,
// NOT_FOUND for a service it does not know, or the call's own status.
absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> RegistryFromReflection(
    grpc::Channel& channel, const std::vector<std::string>& services, absl::Duration timeout);

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_REFLECTION_CLIENT_H_
