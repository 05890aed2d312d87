// gRPC server reflection (grpc.reflection.v1.ServerReflection and its
// older twin grpc.reflection.v1alpha.ServerReflection) answered from the
// contract registry, for the gateway's local services.
//
// gRPC C++'s own reflection plugin describes only the services compiled into
// the binary; the gateway proxies services it has no code for, so it answers
// from the descriptor sets of its contracts instead, following the public
// specification (proto/grpc/reflection/v1/reflection.proto):
//   - list_services: the services the route table sends calls to that the
//     contracts know, plus grpc.health.v1.Health and both reflection
//     services;
//   - file_by_filename, file_containing_symbol, file_containing_extension:
//     the file as its descriptor set holds it, then every file it imports;
//   - all_extension_numbers_of_type: the extension numbers of a message;
//   - an error_response NOT_FOUND for a file, symbol, type or extension the
//     contracts do not have, INVALID_ARGUMENT for a request that sets none
//     of the questions.
// Each stream answers its requests one by one, in order.
//
// Usage:
//
//   ReflectionService reflection(contracts, {"polymesh.ai.v1.AIService"});
//   builder.RegisterService(reflection.v1());
//   builder.RegisterService(reflection.v1alpha());
#ifndef POLYMESH_GATEWAY_SRC_LOCAL_REFLECTION_SERVICE_H_
#define POLYMESH_GATEWAY_SRC_LOCAL_REFLECTION_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "contracts/contract_registry.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace polymesh::gateway {

// The service names reflection always lists, whatever the routes.
inline constexpr const char* kHealthServiceName = "grpc.health.v1.Health";
inline constexpr const char* kReflectionV1ServiceName = "grpc.reflection.v1.ServerReflection";
inline constexpr const char* kReflectionV1AlphaServiceName =
    "grpc.reflection.v1alpha.ServerReflection";

// Both versions of the reflection service, over one registry. Thread-safe
// (the registry is immutable); must outlive the server it is registered on.
class ReflectionService {
 public:
  // Lists `services` (full names, such as those RoutedServices returns),
  // plus the health and reflection services, and describes every file of
  // `contracts`, which must not be nullptr.
  ReflectionService(std::shared_ptr<const ContractRegistry> contracts,
                    std::vector<std::string> services);
  ~ReflectionService();

  // The grpc.reflection.v1 service, to register on a server.
  grpc::Service* v1();
  // The grpc.reflection.v1alpha service, to register on a server.
  grpc::Service* v1alpha();

  // The service names list_services answers, sorted.
  const std::vector<std::string>& services() const { return services_; }

 private:
  class V1;
  class V1Alpha;

  std::shared_ptr<const ContractRegistry> contracts_;
  std::vector<std::string> services_;
  std::unique_ptr<V1> v1_;
  std::unique_ptr<V1Alpha> v1alpha_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_LOCAL_REFLECTION_SERVICE_H_
