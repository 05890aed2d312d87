// Server reflection from the contract registry: the local services on their
// own, asked with the generated v1 and v1alpha stubs, and the whole gateway,
// which routes reflection to them.
#include "local/reflection_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/config_loader.h"
#include "contracts/contract_registry.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "local/local_services.h"
#include "server/gateway.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::FileDescriptorProto;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

namespace v1 = ::grpc::reflection::v1;
namespace v1alpha = ::grpc::reflection::v1alpha;

std::shared_ptr<const ContractRegistry> ProtoContracts() {
  auto registry = ContractRegistry::FromDescriptorSetFiles({POLYMESH_DESCRIPTOR_SET});
  EXPECT_TRUE(registry.ok()) << registry.status();
  return std::move(*registry);
}

// A proto2 contract with an extension, which proto/ has none of.
std::shared_ptr<const ContractRegistry> ExtensionContracts() {
  google::protobuf::FileDescriptorSet set;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    file {
      name: "ext/base.proto"
      package: "ext"
      message_type { name: "Base" extension_range { start: 100 end: 201 } }
    }
    file {
      name: "ext/more.proto"
      package: "ext"
      dependency: "ext/base.proto"
      extension { name: "tag" number: 150 label: LABEL_OPTIONAL type: TYPE_INT32 extendee: ".ext.Base" }
      extension { name: "note" number: 120 label: LABEL_OPTIONAL type: TYPE_STRING extendee: ".ext.Base" }
    }
  )pb", &set));
  auto registry = ContractRegistry::FromFileDescriptorSet(set);
  EXPECT_TRUE(registry.ok()) << registry.status();
  return std::move(*registry);
}

// The names of the files of a file_descriptor_response, in order.
template <typename Response>
std::vector<std::string> FileNames(const Response& response) {
  std::vector<std::string> names;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  return names;
}

// One reflection stream to a server, either version.
template <typename Service, typename Request, typename Response>
class Stream {
 public:
  explicit Stream(uint16_t port)
      : stub_(Service::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                   grpc::InsecureChannelCredentials()))) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stream_ = stub_->ServerReflectionInfo(&context_);
  }

  Response Ask(const Request& request) {
    Response response;
    EXPECT_TRUE(stream_->Write(request));
    EXPECT_TRUE(stream_->Read(&response));
    return response;
  }

  grpc::Status Finish() {
    stream_->WritesDone();
    Response extra;
    EXPECT_FALSE(stream_->Read(&extra));
    return stream_->Finish();
  }

 private:
  std::unique_ptr<typename Service::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream_;
};

using V1Stream = Stream<v1::ServerReflection, v1::ServerReflectionRequest,
                        v1::ServerReflectionResponse>;
using V1AlphaStream = Stream<v1alpha::ServerReflection, v1alpha::ServerReflectionRequest,
                             v1alpha::ServerReflectionResponse>;

template <typename Response>
std::vector<std::string> ServiceNames(const Response& response) {
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  return names;
}

class ReflectionServiceTest : public ::testing::Test {
 protected:
  void Start(std::shared_ptr<const ContractRegistry> contracts,
             std::vector<std::string> services) {
    auto local = LocalServices::Start("127.0.0.1", 0,
                                      {.contracts = std::move(contracts),
                                       .reflected_services = std::move(services)});
    ASSERT_TRUE(local.ok()) << local.status();
    local_ = std::move(*local);
  }

  std::unique_ptr<LocalServices> local_;
};

TEST_F(ReflectionServiceTest, ListsTheGivenServicesWithHealthAndReflection) {
  Start(ProtoContracts(), {"polymesh.users.v1.UserService", "polymesh.ai.v1.AIService"});
  V1Stream stream(local_->port());
  v1::ServerReflectionRequest request;
  request.set_host("gateway");
  request.set_list_services("*");
  v1::ServerReflectionResponse response = stream.Ask(request);
  EXPECT_EQ(response.valid_host(), "gateway");
  EXPECT_EQ(response.original_request().list_services(), "*");
  EXPECT_THAT(ServiceNames(response),
              ElementsAre("grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection",
                          "polymesh.ai.v1.AIService", "polymesh.users.v1.UserService"));
  EXPECT_TRUE(stream.Finish().ok());
}

TEST_F(ReflectionServiceTest, SendsTheFileOfASymbolWithItsImports) {
  Start(ProtoContracts(), {"polymesh.ai.v1.AIService"});
  for (const char* symbol : {"polymesh.ai.v1.AIService", "polymesh.ai.v1.AIService.Predict",
                             "polymesh.ai.v1.PredictRequest", "polymesh.ai.v1.Tensor.name"}) {
    V1Stream stream(local_->port());  // a new stream: nothing sent yet
    v1::ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    v1::ServerReflectionResponse response = stream.Ask(request);
    ASSERT_TRUE(response.has_file_descriptor_response()) << symbol;
    EXPECT_THAT(FileNames(response),
                ElementsAre("polymesh/ai/v1/ai.proto", "google/protobuf/any.proto"))
        << symbol;
    EXPECT_TRUE(stream.Finish().ok());
  }
  V1Stream stream(local_->port());
  // The files carry their comments (the set has source info) and options.
  v1::ServerReflectionRequest request;
  request.set_file_containing_symbol("polymesh.ai.v1.AIService");
  v1::ServerReflectionResponse response = stream.Ask(request);
  FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(response.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_TRUE(file.has_source_code_info());
  EXPECT_EQ(file.service(0).method(2).name(), "Predict");
  EXPECT_EQ(file.service(0).method(2).options().idempotency_level(),
            google::protobuf::MethodOptions::NO_SIDE_EFFECTS);
  EXPECT_TRUE(stream.Finish().ok());
}

// On one stream, an import goes once; the file asked for, every time.
TEST_F(ReflectionServiceTest, AStreamSendsEachImportOnce) {
  Start(ProtoContracts(), {"polymesh.ai.v1.AIService"});
  V1Stream stream(local_->port());
  v1::ServerReflectionRequest request;
  request.set_file_containing_symbol("polymesh.ai.v1.AIService");
  EXPECT_THAT(FileNames(stream.Ask(request)),
              ElementsAre("polymesh/ai/v1/ai.proto", "google/protobuf/any.proto"));
  request.set_file_containing_symbol("polymesh.ai.v1.PredictRequest");
  EXPECT_THAT(FileNames(stream.Ask(request)), ElementsAre("polymesh/ai/v1/ai.proto"));
  request.set_file_by_filename("google/protobuf/any.proto");
  EXPECT_THAT(FileNames(stream.Ask(request)), ElementsAre("google/protobuf/any.proto"));
  EXPECT_TRUE(stream.Finish().ok());
}

TEST_F(ReflectionServiceTest, SendsAFileByName) {
  Start(ProtoContracts(), {});
  V1Stream stream(local_->port());
  v1::ServerReflectionRequest request;
  request.set_file_by_filename("polymesh/users/v1/users.proto");
  EXPECT_THAT(FileNames(stream.Ask(request)),
              ElementsAre("polymesh/users/v1/users.proto", "google/protobuf/field_mask.proto",
                          "google/protobuf/timestamp.proto"));
  request.set_file_by_filename("grpc/health/v1/health.proto");
  EXPECT_THAT(FileNames(stream.Ask(request)), ElementsAre("grpc/health/v1/health.proto"));
}

TEST_F(ReflectionServiceTest, AnswersNotFoundAndGoesOn) {
  Start(ProtoContracts(), {});
  V1Stream stream(local_->port());
  v1::ServerReflectionRequest request;
  request.set_file_by_filename("no/such.proto");
  v1::ServerReflectionResponse response = stream.Ask(request);
  EXPECT_EQ(response.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(response.error_response().error_message(), HasSubstr("no/such.proto"));
  EXPECT_EQ(response.original_request().file_by_filename(), "no/such.proto");

  request.set_file_containing_symbol("polymesh.ai.v1.Nope");
  response = stream.Ask(request);
  EXPECT_EQ(response.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(response.error_response().error_message(), HasSubstr("polymesh.ai.v1.Nope"));

  request.mutable_file_containing_extension()->set_containing_type("polymesh.ai.v1.Tensor");
  request.mutable_file_containing_extension()->set_extension_number(100);
  EXPECT_EQ(stream.Ask(request).error_response().error_code(), grpc::StatusCode::NOT_FOUND);

  request.set_all_extension_numbers_of_type("polymesh.ai.v1.Nope");
  EXPECT_EQ(stream.Ask(request).error_response().error_code(), grpc::StatusCode::NOT_FOUND);

  request.Clear();  // no question at all
  EXPECT_EQ(stream.Ask(request).error_response().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // The stream still answers.
  request.set_list_services("");
  EXPECT_THAT(ServiceNames(stream.Ask(request)), ElementsAre("grpc.health.v1.Health",
                                                             "grpc.reflection.v1.ServerReflection",
                                                             "grpc.reflection.v1alpha.ServerReflection"));
  EXPECT_TRUE(stream.Finish().ok());
}

TEST_F(ReflectionServiceTest, AnswersExtensions) {
  Start(ExtensionContracts(), {});
  V1Stream stream(local_->port());
  v1::ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type("ext.Base");
  v1::ServerReflectionResponse response = stream.Ask(request);
  EXPECT_EQ(response.all_extension_numbers_response().base_type_name(), "ext.Base");
  EXPECT_THAT(response.all_extension_numbers_response().extension_number(),
              UnorderedElementsAre(120, 150));

  request.mutable_file_containing_extension()->set_containing_type("ext.Base");
  request.mutable_file_containing_extension()->set_extension_number(150);
  EXPECT_THAT(FileNames(stream.Ask(request)), ElementsAre("ext/more.proto", "ext/base.proto"));

  // An extension is a symbol too (ext/base.proto was sent on this stream).
  request.set_file_containing_symbol("ext.tag");
  EXPECT_THAT(FileNames(stream.Ask(request)), ElementsAre("ext/more.proto"));
}

TEST_F(ReflectionServiceTest, V1AlphaAnswersTheSame) {
  Start(ProtoContracts(), {"polymesh.ai.v1.AIService"});
  V1AlphaStream stream(local_->port());
  v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  EXPECT_THAT(ServiceNames(stream.Ask(request)),
              ElementsAre("grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection",
                          "polymesh.ai.v1.AIService"));
  request.set_file_containing_symbol("polymesh.ai.v1.AIService");
  EXPECT_THAT(FileNames(stream.Ask(request)),
              ElementsAre("polymesh/ai/v1/ai.proto", "google/protobuf/any.proto"));
  request.set_file_by_filename("nope.proto");
  EXPECT_EQ(stream.Ask(request).error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(stream.Finish().ok());
}

TEST_F(ReflectionServiceTest, WithoutContractsReflectionIsUnimplemented) {
  Start(nullptr, {});
  V1Stream stream(local_->port());
  EXPECT_EQ(stream.Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ReflectionServiceTest, StreamsRunSideBySide) {
  Start(ProtoContracts(), {"polymesh.ai.v1.AIService"});
  std::vector<std::unique_ptr<V1Stream>> streams;
  for (int i = 0; i < 8; ++i) streams.push_back(std::make_unique<V1Stream>(local_->port()));
  for (int round = 0; round < 3; ++round) {
    for (auto& stream : streams) {
      v1::ServerReflectionRequest request;
      request.set_file_containing_symbol("polymesh.ai.v1.AIService");
      EXPECT_THAT(FileNames(stream->Ask(request)), Not(IsEmpty()));
    }
  }
  for (auto& stream : streams) EXPECT_TRUE(stream->Finish().ok());
}

// The whole gateway: reflection reaches the local services through routes,
// and lists the routed services the contracts know.
TEST(GatewayReflectionTest, ReflectionIsRoutedToTheLocalServices) {
  const std::string yaml = absl::StrCat(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
local_services: { address: 127.0.0.1, port: 0 }
workers: 1
admin: { disabled: true }
tracing: { disabled: true }
contracts: { descriptor_sets: [")yaml", POLYMESH_DESCRIPTOR_SET, R"yaml("] }
clusters:
  - name: users
    endpoints: [{ address: 127.0.0.1, port: 1 }]
routes:
  - name: users
    match: { service: polymesh.users.v1.UserService }
    cluster: users
  - name: inference
    match: { method: inference.GRPCInferenceService/ModelInfer }
    cluster: users
  - name: reflection
    match: { package: grpc.reflection }
    cluster: local
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
)yaml");
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "gateway.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto gateway = Gateway::Start(*config, nullptr);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  ASSERT_NE((*gateway)->contracts(), nullptr);

  V1Stream stream((*gateway)->port());
  v1::ServerReflectionRequest request;
  request.set_list_services("");
  EXPECT_THAT(ServiceNames(stream.Ask(request)),
              ElementsAre("grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection",
                          "inference.GRPCInferenceService", "polymesh.users.v1.UserService"));
  request.set_file_containing_symbol("polymesh.users.v1.UserService.GetUser");
  EXPECT_THAT(FileNames(stream.Ask(request)),
              ElementsAre("polymesh/users/v1/users.proto", "google/protobuf/field_mask.proto",
                          "google/protobuf/timestamp.proto"));
  EXPECT_TRUE(stream.Finish().ok());

  V1AlphaStream alpha((*gateway)->port());
  v1alpha::ServerReflectionRequest alpha_request;
  alpha_request.set_file_by_filename("grpc/reflection/v1alpha/reflection.proto");
  EXPECT_THAT(FileNames(alpha.Ask(alpha_request)),
              ElementsAre("grpc/reflection/v1alpha/reflection.proto"));
  EXPECT_TRUE(alpha.Finish().ok());
  (*gateway)->Stop(absl::ZeroDuration());
}

}  // namespace
}  // namespace polymesh::gateway
