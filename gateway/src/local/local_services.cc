#include "local/local_services.h"

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/host_port.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "local/reflection_service.h"

namespace polymesh::gateway {
namespace {

// Answers every method no registered service has with UNIMPLEMENTED. It
// also gives the server the callback completion queue it needs when the
// only other service is the built-in health service.
class UnknownMethodService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return new Reactor(context->method());
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(const std::string& method) {
      Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          absl::StrCat("unknown method \"", method,
                                       "\" on the gateway's local services")));
    }
    void OnDone() override { delete this; }
  };
};

}  // namespace

absl::StatusOr<std::unique_ptr<LocalServices>> LocalServices::Start(
    absl::string_view address, uint16_t port, LocalServicesOptions options) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string listen = JoinHostPort(address, port);
  auto unknown_methods = std::make_unique<UnknownMethodService>();
  builder.RegisterCallbackGenericService(unknown_methods.get());
  std::unique_ptr<ReflectionService> reflection;
  if (options.contracts != nullptr) {
    reflection = std::make_unique<ReflectionService>(std::move(options.contracts),
                                                     std::move(options.reflected_services));
    builder.RegisterService(reflection->v1());
    builder.RegisterService(reflection->v1alpha());
  }
  int selected_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &selected_port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot start the local services on ", listen));
  }
  std::unique_ptr<LocalServices> local(
      new LocalServices(std::move(server), static_cast<uint16_t>(selected_port)));
  local->unknown_methods_ = std::move(unknown_methods);
  local->reflection_ = std::move(reflection);
  local->SetServing(false);
  return local;
}

LocalServices::LocalServices(std::unique_ptr<grpc::Server> server, uint16_t port)
    : server_(std::move(server)), port_(port) {}

LocalServices::~LocalServices() { Shutdown(); }

void LocalServices::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(serving);
}

void LocalServices::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
}

}  // namespace polymesh::gateway
