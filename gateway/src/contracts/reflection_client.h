// The contracts of a server, asked of it through gRPC server reflection
// (grpc.reflection.v1.ServerReflection, or v1alpha when the server has only
// that one): the files that define the services asked for, and every file
// they import. `polymesh call --reflect` builds its registry from them, and
// the gateway adds them to its contracts (contracts.reflection).
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<ContractRegistry>> registry =
//       RegistryFromReflection(*channel, {"polymesh.testing.v1.EchoService"},
//                              absl::Seconds(10));
//   // {} asks for every service the server lists.
#ifndef POLYMESH_GATEWAY_SRC_CONTRACTS_REFLECTION_CLIENT_H_
#define POLYMESH_GATEWAY_SRC_CONTRACTS_REFLECTION_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "contracts/contract_registry.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpcpp/channel.h"

namespace polymesh::gateway {

// Asks the server on `channel` for the files that define `services` (every
// service it lists when empty) and their imports, within `timeout`. The
// error says what failed: UNIMPLEMENTED when the server has no reflection,
// NOT_FOUND for a service it does not know or when it lists none, or the
// call's own status.
absl::StatusOr<google::protobuf::FileDescriptorSet> FilesFromReflection(
    grpc::Channel& channel, const std::vector<std::string>& services, absl::Duration timeout);

// The same files as a contract registry.
absl::StatusOr<std::unique_ptr<ContractRegistry>> RegistryFromReflection(
    grpc::Channel& channel, const std::vector<std::string>& services, absl::Duration timeout);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONTRACTS_REFLECTION_CLIENT_H_
