#include "contracts/contract_registry.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/method_path.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::FileDescriptorSet;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::MethodOptions;
using ::google::protobuf::ServiceDescriptor;

// Collects the first error DescriptorPool::BuildFileCollectingErrors reports.
class FirstError final : public DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message* /*descriptor*/, ErrorLocation /*location*/,
                const std::string& message) override {
    if (!error_.empty()) return;
    error_ = element_name.empty() || element_name == filename
                 ? message
                 : absl::StrCat(element_name, ": ", message);
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

// Adds the fully-qualified names of `file`'s top-level messages, enums,
// services and extensions to `names`.
void AddTopLevelNames(const FileDescriptorProto& file, absl::flat_hash_set<std::string>& names) {
  const std::string prefix = file.package().empty() ? "" : absl::StrCat(file.package(), ".");
  for (const auto& message : file.message_type()) names.insert(prefix + message.name());
  for (const auto& enumeration : file.enum_type()) names.insert(prefix + enumeration.name());
  for (const auto& service : file.service()) names.insert(prefix + service.name());
  for (const auto& extension : file.extension()) names.insert(prefix + extension.name());
}

// The name a set is known by in messages: its file, or a fixed name for a
// set given in memory.
constexpr absl::string_view kInMemorySet = "the descriptor set";

}  // namespace

absl::StatusOr<std::unique_ptr<ContractRegistry>> ContractRegistry::FromDescriptorSetFiles(
    const std::vector<std::string>& paths) {
  if (paths.empty()) {
    return absl::InvalidArgumentError("no descriptor set files given");
  }
  return FromSources(paths, {});
}

absl::StatusOr<std::unique_ptr<ContractRegistry>> ContractRegistry::FromSources(
    const std::vector<std::string>& paths, const std::vector<NamedSet>& extra) {
  absl::flat_hash_map<std::string, SourceFile> files;
  std::vector<std::string> order;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read the descriptor set \"", path, "\""));
    }
    const std::string data((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    if (in.bad()) {
      return absl::NotFoundError(
          absl::StrCat("cannot read the descriptor set \"", path, "\""));
    }
    FileDescriptorSet set;
    if (!set.ParseFromString(data)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", path,
          "\" is not a descriptor set (a binary google.protobuf.FileDescriptorSet, "
          "as written by protoc --include_imports --descriptor_set_out)"));
    }
    if (set.file_size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the descriptor set \"", path, "\" holds no files"));
    }
    for (const FileDescriptorProto& file : set.file()) {
      if (file.name().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("the descriptor set \"", path, "\" holds a file without a name"));
      }
      std::string serialized = file.SerializeAsString();
      auto it = files.find(file.name());
      if (it != files.end()) {
        if (it->second.serialized != serialized) {
          return absl::InvalidArgumentError(absl::StrCat(
              "\"", file.name(), "\" differs between the descriptor sets \"",
              it->second.origin, "\" and \"", path,
              "\": build every set from the same proto files"));
        }
        continue;
      }
      order.push_back(file.name());
      files.emplace(file.name(), SourceFile{file, std::move(serialized), path});
    }
  }
  // The names the files so far define: a file of an extra set that defines
  // one again is the same contract under another file name (gRPC C++'s
  // reflection service is "src/proto/grpc/reflection/v1alpha/reflection.proto"
  // there, "grpc/reflection/v1alpha/reflection.proto" in proto/), and is
  // left out with the files that import it.
  absl::flat_hash_set<std::string> defined;
  for (const auto& [name, file] : files) AddTopLevelNames(file.proto, defined);
  for (const NamedSet& named : extra) {
    absl::flat_hash_set<std::string> left_out;
    std::vector<const FileDescriptorProto*> taken;
    for (const FileDescriptorProto& file : named.set.file()) {
      if (file.name().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(named.origin, " holds a file without a name"));
      }
      if (files.contains(file.name())) continue;
      absl::flat_hash_set<std::string> names;
      AddTopLevelNames(file, names);
      if (std::any_of(names.begin(), names.end(),
                      [&](const std::string& name) { return defined.contains(name); })) {
        left_out.insert(file.name());
        continue;
      }
      taken.push_back(&file);
    }
    // Whatever imports a file left out, directly or not, is left out too.
    for (bool changed = true; changed;) {
      changed = false;
      for (const FileDescriptorProto*& file : taken) {
        if (file == nullptr) continue;
        for (const std::string& dependency : file->dependency()) {
          if (left_out.contains(dependency)) {
            left_out.insert(file->name());
            file = nullptr;
            changed = true;
            break;
          }
        }
      }
    }
    for (const FileDescriptorProto* file : taken) {
      if (file == nullptr) continue;
      AddTopLevelNames(*file, defined);
      order.push_back(file->name());
      files.emplace(file->name(), SourceFile{*file, file->SerializeAsString(), named.origin});
    }
  }
  if (files.empty()) return absl::InvalidArgumentError("no contracts: no files in any source");
  return Build(std::move(files), std::move(order));
}

absl::StatusOr<std::unique_ptr<ContractRegistry>> ContractRegistry::FromFileDescriptorSet(
    const FileDescriptorSet& set) {
  if (set.file_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(kInMemorySet, " holds no files"));
  }
  absl::flat_hash_map<std::string, SourceFile> files;
  std::vector<std::string> order;
  for (const FileDescriptorProto& file : set.file()) {
    if (file.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kInMemorySet, " holds a file without a name"));
    }
    std::string serialized = file.SerializeAsString();
    auto it = files.find(file.name());
    if (it != files.end()) {
      if (it->second.serialized != serialized) {
        return absl::InvalidArgumentError(absl::StrCat(
            kInMemorySet, " holds \"", file.name(), "\" twice, with different contents"));
      }
      continue;
    }
    order.push_back(file.name());
    files.emplace(file.name(), SourceFile{file, std::move(serialized), std::string(kInMemorySet)});
  }
  return Build(std::move(files), std::move(order));
}

absl::StatusOr<std::unique_ptr<ContractRegistry>> ContractRegistry::Build(
    absl::flat_hash_map<std::string, SourceFile> files, std::vector<std::string> order) {
  std::unique_ptr<ContractRegistry> registry(new ContractRegistry());
  // Every import must be held by some set (protoc --include_imports).
  for (const std::string& name : order) {
    const SourceFile& file = files.at(name);
    for (const std::string& dependency : file.proto.dependency()) {
      if (!files.contains(dependency)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "\"", name, "\" (in \"", file.origin, "\") imports \"", dependency,
            "\", which no descriptor set holds: build the sets with protoc "
            "--include_imports"));
      }
    }
  }
  // Files in dependency order (depth first), whatever order the sets had.
  absl::flat_hash_set<std::string> built, visiting;
  std::vector<std::string> sorted;
  sorted.reserve(order.size());
  // An explicit stack of (file, next dependency index).
  for (const std::string& root : order) {
    if (built.contains(root)) continue;
    std::vector<std::pair<const std::string*, int>> stack = {{&root, 0}};
    visiting.insert(root);
    while (!stack.empty()) {
      auto& [name, next] = stack.back();
      const FileDescriptorProto& proto = files.at(*name).proto;
      if (next < proto.dependency_size()) {
        const std::string& dependency = proto.dependency(next++);
        if (built.contains(dependency)) continue;
        if (!visiting.insert(dependency).second) {
          return absl::InvalidArgumentError(
              absl::StrCat("\"", *name, "\" (in \"", files.at(*name).origin,
                           "\") imports \"", dependency, "\", which imports it back"));
        }
        stack.emplace_back(&files.find(dependency)->first, 0);
        continue;
      }
      visiting.erase(*name);
      built.insert(*name);
      sorted.push_back(*name);
      stack.pop_back();
    }
  }
  for (const std::string& name : sorted) {
    SourceFile& file = files.at(name);
    FirstError errors;
    const FileDescriptor* descriptor =
        registry->pool_.BuildFileCollectingErrors(file.proto, &errors);
    if (descriptor == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" (in \"", file.origin,
                                                     "\") is not a valid proto file: ",
                                                     errors.error()));
    }
    for (int i = 0; i < descriptor->service_count(); ++i) {
      registry->services_.push_back(descriptor->service(i));
    }
    registry->serialized_files_.emplace(name, std::move(file.serialized));
  }
  std::sort(registry->services_.begin(), registry->services_.end(),
            [](const ServiceDescriptor* a, const ServiceDescriptor* b) {
              return a->full_name() < b->full_name();
            });
  registry->file_names_ = std::move(sorted);
  return registry;
}

const MethodDescriptor* ContractRegistry::FindMethod(absl::string_view name) const {
  if (absl::StartsWith(name, "/")) name.remove_prefix(1);
  if (!absl::StrContains(name, '/')) {  // "package.Service.Method"
    return pool_.FindMethodByName(std::string(name));
  }
  const std::optional<MethodPath> path = MethodPath::ParseName(name);
  if (!path.has_value()) return nullptr;
  return pool_.FindMethodByName(path->FullName());
}

const ServiceDescriptor* ContractRegistry::FindService(absl::string_view name) const {
  return pool_.FindServiceByName(std::string(name));
}

std::vector<const ServiceDescriptor*> ContractRegistry::ServicesInPackage(
    absl::string_view package) const {
  std::vector<const ServiceDescriptor*> found;
  for (const ServiceDescriptor* service : services_) {
    const std::string& in = service->file()->package();
    if (in == package ||
        (absl::StartsWith(in, package) && in.size() > package.size() &&
         in[package.size()] == '.')) {
      found.push_back(service);
    }
  }
  return found;
}

const std::string* ContractRegistry::SerializedFile(absl::string_view file_name) const {
  auto it = serialized_files_.find(file_name);
  return it == serialized_files_.end() ? nullptr : &it->second;
}

bool ContractRegistry::IsIdempotent(const MethodDescriptor& method) {
  const MethodOptions::IdempotencyLevel level = method.options().idempotency_level();
  return level == MethodOptions::IDEMPOTENT || level == MethodOptions::NO_SIDE_EFFECTS;
}

std::string ContractRegistry::IdempotencyLevelName(const MethodDescriptor& method) {
  return MethodOptions::IdempotencyLevel_Name(method.options().idempotency_level());
}

}  // namespace polymesh::gateway
