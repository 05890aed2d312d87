#include "contracts/reflection_client.h"

#include <chrono>
#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/client_context.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::FileDescriptorSet;

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

// Asks one version of the protocol (their messages are the same, in two
// packages) for the files of `services` and their imports.
template <typename Service, typename Request, typename Response>
absl::StatusOr<FileDescriptorSet> AskFiles(grpc::Channel& channel,
                                           std::vector<std::string> services,
                                           absl::Duration timeout) {
  auto stub = Service::NewStub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  auto stream = stub->ServerReflectionInfo(&context);
  Request request;
  Response response;
  const auto fail = [&](absl::string_view what) -> absl::Status {
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    if (status.ok()) return absl::UnavailableError(absl::StrCat(what, ": the stream ended"));
    return FromGrpc(status, what);
  };
  if (services.empty()) {
    request.set_list_services("");
    if (!stream->Write(request) || !stream->Read(&response)) return fail("server reflection");
    for (const auto& service : response.list_services_response().service()) {
      services.push_back(service.name());
    }
  }
  absl::flat_hash_map<std::string, FileDescriptorProto> files;
  std::deque<std::string> missing;  // imports not yet fetched
  const auto take = [&](const Response& answer) {
    for (const std::string& bytes : answer.file_descriptor_response().file_descriptor_proto()) {
      FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) continue;
      for (const std::string& dependency : file.dependency()) missing.push_back(dependency);
      files.emplace(file.name(), std::move(file));
    }
  };
  // Sends `request` and takes the files of the answer; NOT_FOUND, starting
  // with `unknown`, when the server answers with an error.
  const auto ask = [&](absl::string_view unknown) -> absl::Status {
    if (!stream->Write(request) || !stream->Read(&response)) return fail("server reflection");
    if (response.has_error_response()) {
      stream->WritesDone();
      (void)stream->Finish();
      return absl::NotFoundError(
          absl::StrCat(unknown, ": ", response.error_response().error_message()));
    }
    take(response);
    return absl::OkStatus();
  };
  for (const std::string& service : services) {
    request.Clear();
    request.set_file_containing_symbol(service);
    if (absl::Status status = ask(absl::StrCat("server reflection does not know ", service));
        !status.ok()) {
      return status;
    }
  }
  while (!missing.empty()) {
    const std::string name = missing.front();
    missing.pop_front();
    if (files.contains(name)) continue;
    request.Clear();
    request.set_file_by_filename(name);
    if (absl::Status status = ask(absl::StrCat("server reflection has no file ", name));
        !status.ok()) {
      return status;
    }
  }
  stream->WritesDone();
  if (grpc::Status status = stream->Finish(); !status.ok()) {
    return FromGrpc(status, "server reflection");
  }
  FileDescriptorSet set;
  for (auto& [name, file] : files) *set.add_file() = std::move(file);
  return set;
}

}  // namespace

absl::StatusOr<FileDescriptorSet> FilesFromReflection(grpc::Channel& channel,
                                                     const std::vector<std::string>& services,
                                                     absl::Duration timeout) {
  absl::StatusOr<FileDescriptorSet> set =
      AskFiles<grpc::reflection::v1::ServerReflection, grpc::reflection::v1::ServerReflectionRequest,
               grpc::reflection::v1::ServerReflectionResponse>(channel, services, timeout);
  if (!set.ok() && set.status().code() == absl::StatusCode::kUnimplemented) {
    // Servers of before 2023 (gRPC C++ 1.51's plugin among them) have only
    // the v1alpha service.
    set = AskFiles<grpc::reflection::v1alpha::ServerReflection,
                   grpc::reflection::v1alpha::ServerReflectionRequest,
                   grpc::reflection::v1alpha::ServerReflectionResponse>(channel, services,
                                                                       timeout);
  }
  if (!set.ok()) return set.status();
  if (set->file_size() == 0) {
    return absl::NotFoundError("server reflection lists no services");
  }
  return set;
}

absl::StatusOr<std::unique_ptr<ContractRegistry>> RegistryFromReflection(
    grpc::Channel& channel, const std::vector<std::string>& services, absl::Duration timeout) {
  absl::StatusOr<FileDescriptorSet> set = FilesFromReflection(channel, services, timeout);
  if (!set.ok()) return set.status();
  return ContractRegistry::FromFileDescriptorSet(*set);
}

}  // namespace polymesh::gateway
