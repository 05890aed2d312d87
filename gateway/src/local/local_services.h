// The gateway's own gRPC services, on an embedded gRPC C++ server at the
// config's local_services address: the standard grpc.health.v1.Health and,
// when the configuration names contracts, server reflection
// (grpc.reflection.v1 and v1alpha) answered from them (reflection_service.h).
//
// Clients do not call this server directly: routes name the reserved
// cluster "local", and the data plane proxies those calls here like to any
// other cluster.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<LocalServices>> local =
//       LocalServices::Start("127.0.0.1", 0, {.contracts = registry,
//                                             .reflected_services = names});
//   uint16_t port = (*local)->port();
//   (*local)->SetServing(true);    // once the workers run
//   (*local)->SetServing(false);   // when stopping
//   (*local)->Shutdown();
#ifndef POLYMESH_GATEWAY_SRC_LOCAL_LOCAL_SERVICES_H_
#define POLYMESH_GATEWAY_SRC_LOCAL_LOCAL_SERVICES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "contracts/contract_registry.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"

namespace polymesh::gateway {

class ReflectionService;

// What the local services serve besides health.
struct LocalServicesOptions {
  // The contracts server reflection answers from; nullptr: no reflection
  // (its methods are UNIMPLEMENTED).
  std::shared_ptr<const ContractRegistry> contracts;
  // The services reflection lists (full names), such as those the route
  // table sends calls to; health and reflection are always listed.
  std::vector<std::string> reflected_services;
};

// The embedded server. Starts NOT_SERVING.
class LocalServices {
 public:
  // Starts the server on `address`:`port` (0: any free port).
  static absl::StatusOr<std::unique_ptr<LocalServices>> Start(
      absl::string_view address, uint16_t port, LocalServicesOptions options = {});
  ~LocalServices();

  // The port the server listens on.
  uint16_t port() const { return port_; }
  // Sets the health of the whole server ("" service) and of every service.
  void SetServing(bool serving);
  // Stops the server (waits briefly for calls in progress). Idempotent.
  void Shutdown();

 private:
  LocalServices(std::unique_ptr<grpc::Server> server, uint16_t port);

  // Declared before server_, so that they outlive the server.
  std::unique_ptr<grpc::CallbackGenericService> unknown_methods_;
  std::unique_ptr<ReflectionService> reflection_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_;
  bool shut_down_ = false;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_LOCAL_LOCAL_SERVICES_H_
