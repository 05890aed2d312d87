// The contract registry: the protobuf contracts (services, methods,
// messages) that the mesh serves, loaded from descriptor sets built from
// proto/.
//
// A descriptor set is a binary google.protobuf.FileDescriptorSet, as written
// by `protoc --include_imports --descriptor_set_out=FILE` or `buf build -o
// FILE`. Several sets may be loaded together; a file that two sets both hold
// must be the same in both. The registry is immutable once built, so any
// thread may read it without locks.
//
// The gateway checks its routes against the registry at configuration load
// (unknown services or methods, retries of methods not marked idempotent)
// and answers server reflection from it.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<ContractRegistry>> registry =
//       ContractRegistry::FromDescriptorSetFiles({"build/cmake/descriptors/polymesh.binpb"});
//   if (!registry.ok()) { /* registry.status().message() names the file */ }
//   const google::protobuf::MethodDescriptor* predict =
//       (*registry)->FindMethod("/polymesh.ai.v1.AIService/Predict");
//   if (predict != nullptr && ContractRegistry::IsIdempotent(*predict)) { ... }
#ifndef POLYMESH_GATEWAY_SRC_CONTRACTS_CONTRACT_REGISTRY_H_
#define POLYMESH_GATEWAY_SRC_CONTRACTS_CONTRACT_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace polymesh::gateway {

// The contracts of the mesh, from one or more descriptor sets.
class ContractRegistry {
 public:
  // Loads binary FileDescriptorSet files (protoc --include_imports
  // --descriptor_set_out). NOT_FOUND when a file cannot be read;
  // INVALID_ARGUMENT, naming the file, when it is not a FileDescriptorSet,
  // holds no files, holds a file that another set holds with a different
  // content, or when a file imports one that no set holds. At least one path.
  static absl::StatusOr<std::unique_ptr<ContractRegistry>> FromDescriptorSetFiles(
      const std::vector<std::string>& paths);

  // Files from somewhere other than a descriptor set file (a server's
  // reflection), named for messages ("cluster \"users\" (127.0.0.1:50052)").
  struct NamedSet {
    std::string origin;
    google::protobuf::FileDescriptorSet set;
  };

  // Loads the descriptor set files `paths` as FromDescriptorSetFiles does
  // (none is fine here), then adds the files of each `extra` set that no
  // earlier source holds: a file that a descriptor set holds is taken from
  // it, with its comments, whatever a server's reflection says of it.
  // INVALID_ARGUMENT when there are no files at all, or as above.
  static absl::StatusOr<std::unique_ptr<ContractRegistry>> FromSources(
      const std::vector<std::string>& paths, const std::vector<NamedSet>& extra);

  // Builds the registry from one FileDescriptorSet already in memory (it
  // must hold every file its files import). INVALID_ARGUMENT as above.
  static absl::StatusOr<std::unique_ptr<ContractRegistry>> FromFileDescriptorSet(
      const google::protobuf::FileDescriptorSet& set);

  ContractRegistry(const ContractRegistry&) = delete;
  ContractRegistry& operator=(const ContractRegistry&) = delete;

  // Every file, message, enum, service and method of the contracts.
  const google::protobuf::DescriptorPool& pool() const { return pool_; }

  // The method named "/pkg.Svc/Method", "pkg.Svc/Method" or
  // "pkg.Svc.Method"; nullptr if unknown.
  const google::protobuf::MethodDescriptor* FindMethod(absl::string_view name) const;

  // The service named "pkg.Svc"; nullptr if unknown.
  const google::protobuf::ServiceDescriptor* FindService(absl::string_view name) const;

  // Every service, sorted by full name.
  std::vector<const google::protobuf::ServiceDescriptor*> services() const {
    return services_;
  }

  // The services in package `package` or in a package under it, whole name
  // components only ("polymesh.ai" holds polymesh.ai.v1.AIService, not
  // polymesh.aiops.Service), sorted by full name.
  std::vector<const google::protobuf::ServiceDescriptor*> ServicesInPackage(
      absl::string_view package) const;

  // The file exactly as its descriptor set holds it (serialized
  // FileDescriptorProto, with source info if the set has it); nullptr for a
  // file name that no set holds.
  const std::string* SerializedFile(absl::string_view file_name) const;

  // The files of the registry, in an order where every file comes after
  // the files it imports.
  const std::vector<std::string>& file_names() const { return file_names_; }

  // True for a method marked `option idempotency_level = IDEMPOTENT;` or
  // NO_SIDE_EFFECTS: calling it again has no further effect, so the
  // gateway may retry it.
  static bool IsIdempotent(const google::protobuf::MethodDescriptor& method);

  // The method's idempotency level by name ("IDEMPOTENCY_UNKNOWN",
  // "NO_SIDE_EFFECTS" or "IDEMPOTENT"), for messages.
  static std::string IdempotencyLevelName(const google::protobuf::MethodDescriptor& method);

 private:
  ContractRegistry() = default;

  // Builds the pool from files keyed by name, each with the name of the
  // set it came from (for messages).
  struct SourceFile {
    google::protobuf::FileDescriptorProto proto;
    std::string serialized;
    std::string origin;
  };
  static absl::StatusOr<std::unique_ptr<ContractRegistry>> Build(
      absl::flat_hash_map<std::string, SourceFile> files, std::vector<std::string> order);

  google::protobuf::DescriptorPool pool_;
  std::vector<const google::protobuf::ServiceDescriptor*> services_;
  absl::flat_hash_map<std::string, std::string> serialized_files_;
  std::vector<std::string> file_names_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONTRACTS_CONTRACT_REGISTRY_H_
