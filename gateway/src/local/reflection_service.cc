#include "local/reflection_service.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/server_callback.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;

// Answers one request into `response` (either version: their messages are
// the same). `sent` holds the files already sent on the stream.
template <typename Request, typename Response>
void Answer(const ContractRegistry& contracts, const std::vector<std::string>& services,
            const Request& request, Response& response,
            absl::flat_hash_set<const FileDescriptor*>& sent) {
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  const auto not_found = [&response](std::string message) {
    auto* error = response.mutable_error_response();
    error->set_error_code(static_cast<int>(grpc::StatusCode::NOT_FOUND));
    error->set_error_message(std::move(message));
  };
  // The file (always), then the files it imports, directly or not, that
  // the stream has not sent yet (as grpc-go's reflection does: a client
  // keeps what it was sent).
  const auto send_file = [&contracts, &response, &sent](const FileDescriptor* file) {
    auto* files = response.mutable_file_descriptor_response();
    absl::flat_hash_set<const FileDescriptor*> seen = {file};
    std::vector<const FileDescriptor*> queue = {file};
    for (size_t i = 0; i < queue.size(); ++i) {
      const bool first_time = sent.insert(queue[i]).second;
      if (i == 0 || first_time) {
        if (const std::string* bytes = contracts.SerializedFile(queue[i]->name())) {
          files->add_file_descriptor_proto(*bytes);
        }
      }
      for (int d = 0; d < queue[i]->dependency_count(); ++d) {
        const FileDescriptor* dependency = queue[i]->dependency(d);
        if (seen.insert(dependency).second) queue.push_back(dependency);
      }
    }
  };
  const auto& pool = contracts.pool();
  switch (request.message_request_case()) {
    case Request::kFileByFilename:
      if (const FileDescriptor* file = pool.FindFileByName(request.file_by_filename())) {
        send_file(file);
      } else {
        not_found(absl::StrCat("no file named \"", request.file_by_filename(),
                               "\" in the gateway's contracts"));
      }
      return;
    case Request::kFileContainingSymbol:
      if (const FileDescriptor* file =
              pool.FindFileContainingSymbol(request.file_containing_symbol())) {
        send_file(file);
      } else {
        not_found(absl::StrCat("no symbol named \"", request.file_containing_symbol(),
                               "\" in the gateway's contracts"));
      }
      return;
    case Request::kFileContainingExtension: {
      const auto& extension = request.file_containing_extension();
      const Descriptor* type = pool.FindMessageTypeByName(extension.containing_type());
      const FieldDescriptor* field =
          type == nullptr ? nullptr
                          : pool.FindExtensionByNumber(type, extension.extension_number());
      if (field != nullptr) {
        send_file(field->file());
      } else {
        not_found(absl::StrCat("no extension ", extension.extension_number(), " of \"",
                               extension.containing_type(), "\" in the gateway's contracts"));
      }
      return;
    }
    case Request::kAllExtensionNumbersOfType: {
      const Descriptor* type = pool.FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        not_found(absl::StrCat("no message type named \"",
                               request.all_extension_numbers_of_type(),
                               "\" in the gateway's contracts"));
        return;
      }
      std::vector<const FieldDescriptor*> extensions;
      pool.FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const FieldDescriptor* field : extensions) numbers->add_extension_number(field->number());
      return;
    }
    case Request::kListServices: {
      auto* list = response.mutable_list_services_response();
      for (const std::string& name : services) list->add_service()->set_name(name);
      return;
    }
    case Request::MESSAGE_REQUEST_NOT_SET:
      break;
  }
  auto* error = response.mutable_error_response();
  error->set_error_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  error->set_error_message(
      "the request sets none of file_by_filename, file_containing_symbol, "
      "file_containing_extension, all_extension_numbers_of_type, list_services");
}

// One reflection stream: reads a request, writes its answer, reads the next;
// finishes OK when the client half-closes. Deletes itself when done.
template <typename Request, typename Response>
class ReflectionReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  ReflectionReactor(const ContractRegistry& contracts, const std::vector<std::string>& services)
      : contracts_(contracts), services_(services) {
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or the call ended)
      this->Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    Answer(contracts_, services_, request_, response_, sent_);
    this->StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream ended"));
      return;
    }
    this->StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const ContractRegistry& contracts_;
  const std::vector<std::string>& services_;
  Request request_;
  Response response_;
  // The files sent on this stream so far.
  absl::flat_hash_set<const FileDescriptor*> sent_;
};

}  // namespace

class ReflectionService::V1 final : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  explicit V1(const ReflectionService& owner) : owner_(owner) {}
  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* /*context*/) override {
    return new ReflectionReactor<grpc::reflection::v1::ServerReflectionRequest,
                                 grpc::reflection::v1::ServerReflectionResponse>(
        *owner_.contracts_, owner_.services_);
  }

 private:
  const ReflectionService& owner_;
};

class ReflectionService::V1Alpha final
    : public grpc::reflection::v1alpha::ServerReflection::CallbackService {
 public:
  explicit V1Alpha(const ReflectionService& owner) : owner_(owner) {}
  grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                          grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* /*context*/) override {
    return new ReflectionReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                                 grpc::reflection::v1alpha::ServerReflectionResponse>(
        *owner_.contracts_, owner_.services_);
  }

 private:
  const ReflectionService& owner_;
};

ReflectionService::ReflectionService(std::shared_ptr<const ContractRegistry> contracts,
                                     std::vector<std::string> services)
    : contracts_(std::move(contracts)), services_(std::move(services)) {
  services_.push_back(kHealthServiceName);
  services_.push_back(kReflectionV1ServiceName);
  services_.push_back(kReflectionV1AlphaServiceName);
  std::sort(services_.begin(), services_.end());
  services_.erase(std::unique(services_.begin(), services_.end()), services_.end());
  v1_ = std::make_unique<V1>(*this);
  v1alpha_ = std::make_unique<V1Alpha>(*this);
}

ReflectionService::~ReflectionService() = default;

grpc::Service* ReflectionService::v1() { return v1_.get(); }

grpc::Service* ReflectionService::v1alpha() { return v1alpha_.get(); }

}  // namespace polymesh::gateway
