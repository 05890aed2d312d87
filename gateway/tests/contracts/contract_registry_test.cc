#include "contracts/contract_registry.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::FileDescriptorSet;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A small contract: one service with a read, an idempotent write and a
// plain write, in a file that imports another.
constexpr char kShopSet[] = R"pb(
  file {
    name: "shop/v1/types.proto"
    package: "shop.v1"
    syntax: "proto3"
    message_type { name: "Item" field { name: "id" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL } }
  }
  file {
    name: "shop/v1/shop.proto"
    package: "shop.v1"
    syntax: "proto3"
    dependency: "shop/v1/types.proto"
    service {
      name: "ShopService"
      method { name: "GetItem" input_type: ".shop.v1.Item" output_type: ".shop.v1.Item"
               options { idempotency_level: NO_SIDE_EFFECTS } }
      method { name: "PutItem" input_type: ".shop.v1.Item" output_type: ".shop.v1.Item"
               options { idempotency_level: IDEMPOTENT } }
      method { name: "BuyItem" input_type: ".shop.v1.Item" output_type: ".shop.v1.Item" }
    }
  }
  file {
    name: "shopping/shopping.proto"
    package: "shopping"
    syntax: "proto3"
    dependency: "shop/v1/types.proto"
    service {
      name: "CartService"
      method { name: "Add" input_type: ".shop.v1.Item" output_type: ".shop.v1.Item" }
    }
  }
)pb";

FileDescriptorSet ParseSet(const char* text) {
  FileDescriptorSet set;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &set));
  return set;
}

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = absl::StrCat(testing::TempDir(), "/", name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

std::vector<std::string> Names(const std::vector<const ServiceDescriptor*>& services) {
  std::vector<std::string> names;
  for (const ServiceDescriptor* service : services) names.push_back(service->full_name());
  return names;
}

TEST(ContractRegistryTest, FindsMethodsInEveryNameForm) {
  auto registry = ContractRegistry::FromFileDescriptorSet(ParseSet(kShopSet));
  ASSERT_TRUE(registry.ok()) << registry.status();
  for (const char* name : {"/shop.v1.ShopService/GetItem", "shop.v1.ShopService/GetItem",
                           "shop.v1.ShopService.GetItem"}) {
    const MethodDescriptor* method = (*registry)->FindMethod(name);
    ASSERT_NE(method, nullptr) << name;
    EXPECT_EQ(method->full_name(), "shop.v1.ShopService.GetItem");
  }
  EXPECT_EQ((*registry)->FindMethod("shop.v1.ShopService/Nope"), nullptr);
  EXPECT_EQ((*registry)->FindMethod("shop.v1.Nope/GetItem"), nullptr);
  EXPECT_EQ((*registry)->FindMethod("/shop.v1.ShopService/GetItem/x"), nullptr);
  EXPECT_EQ((*registry)->FindMethod("shop.v1.Item"), nullptr);  // a message
  EXPECT_EQ((*registry)->FindMethod(""), nullptr);
}

TEST(ContractRegistryTest, FindsServicesAndListsThemSorted) {
  auto registry = ContractRegistry::FromFileDescriptorSet(ParseSet(kShopSet));
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_NE((*registry)->FindService("shop.v1.ShopService"), nullptr);
  EXPECT_EQ((*registry)->FindService("shop.v1.ShopService")->method_count(), 3);
  EXPECT_EQ((*registry)->FindService("shop.v1.Item"), nullptr);
  EXPECT_EQ((*registry)->FindService("ShopService"), nullptr);
  EXPECT_THAT(Names((*registry)->services()),
              ElementsAre("shop.v1.ShopService", "shopping.CartService"));
}

TEST(ContractRegistryTest, PackagesMatchWholeNameComponents) {
  auto registry = ContractRegistry::FromFileDescriptorSet(ParseSet(kShopSet));
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_THAT(Names((*registry)->ServicesInPackage("shop")), ElementsAre("shop.v1.ShopService"));
  EXPECT_THAT(Names((*registry)->ServicesInPackage("shop.v1")),
              ElementsAre("shop.v1.ShopService"));
  EXPECT_THAT(Names((*registry)->ServicesInPackage("shopping")),
              ElementsAre("shopping.CartService"));
  EXPECT_THAT(Names((*registry)->ServicesInPackage("sho")), ElementsAre());
  EXPECT_THAT(Names((*registry)->ServicesInPackage("shop.v")), ElementsAre());
}

TEST(ContractRegistryTest, ReadsIdempotencyLevels) {
  auto registry = ContractRegistry::FromFileDescriptorSet(ParseSet(kShopSet));
  ASSERT_TRUE(registry.ok()) << registry.status();
  const MethodDescriptor* get = (*registry)->FindMethod("shop.v1.ShopService/GetItem");
  const MethodDescriptor* put = (*registry)->FindMethod("shop.v1.ShopService/PutItem");
  const MethodDescriptor* buy = (*registry)->FindMethod("shop.v1.ShopService/BuyItem");
  ASSERT_TRUE(get != nullptr && put != nullptr && buy != nullptr);
  EXPECT_TRUE(ContractRegistry::IsIdempotent(*get));
  EXPECT_TRUE(ContractRegistry::IsIdempotent(*put));
  EXPECT_FALSE(ContractRegistry::IsIdempotent(*buy));
  EXPECT_EQ(ContractRegistry::IdempotencyLevelName(*get), "NO_SIDE_EFFECTS");
  EXPECT_EQ(ContractRegistry::IdempotencyLevelName(*put), "IDEMPOTENT");
  EXPECT_EQ(ContractRegistry::IdempotencyLevelName(*buy), "IDEMPOTENCY_UNKNOWN");
}

TEST(ContractRegistryTest, KeepsFilesAsTheSetHoldsThemInDependencyOrder) {
  // The importing file first: the registry orders them itself.
  FileDescriptorSet set = ParseSet(kShopSet);
  set.mutable_file()->SwapElements(0, 2);
  auto registry = ContractRegistry::FromFileDescriptorSet(set);
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_EQ((*registry)->file_names().front(), "shop/v1/types.proto");
  const std::string* serialized = (*registry)->SerializedFile("shop/v1/shop.proto");
  ASSERT_NE(serialized, nullptr);
  FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(*serialized));
  EXPECT_EQ(file.service(0).name(), "ShopService");
  EXPECT_EQ((*registry)->SerializedFile("shop/v1/nope.proto"), nullptr);
}

TEST(ContractRegistryTest, LoadsTheDescriptorSetOfProto) {
  auto registry = ContractRegistry::FromDescriptorSetFiles({POLYMESH_DESCRIPTOR_SET});
  ASSERT_TRUE(registry.ok()) << registry.status();
  const std::vector<std::string> services = Names((*registry)->services());
  EXPECT_THAT(services, Contains("polymesh.ai.v1.AIService"));
  EXPECT_THAT(services, Contains("polymesh.users.v1.UserService"));
  EXPECT_THAT(services, Contains("inference.GRPCInferenceService"));
  EXPECT_TRUE(std::is_sorted(services.begin(), services.end()));
  ASSERT_NE((*registry)->FindMethod("/polymesh.ai.v1.AIService/Predict"), nullptr);
  // With source info: the comments are there for reflection clients.
  FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(*(*registry)->SerializedFile("polymesh/ai/v1/ai.proto")));
  EXPECT_TRUE(file.has_source_code_info());
  // With imports: the well-known types are there.
  EXPECT_NE((*registry)->pool().FindMessageTypeByName("google.protobuf.Any"), nullptr);
}

TEST(ContractRegistryTest, LoadsTheSameFileFromTwoSets) {
  const std::string a = WriteFile("same_a.binpb", ParseSet(kShopSet).SerializeAsString());
  const std::string b = WriteFile("same_b.binpb", ParseSet(kShopSet).SerializeAsString());
  auto registry = ContractRegistry::FromDescriptorSetFiles({a, b});
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_EQ((*registry)->services().size(), 2u);
}

TEST(ContractRegistryTest, NamesAnUnreadableFile) {
  const std::string path = absl::StrCat(testing::TempDir(), "/no/such/set.binpb");
  auto registry = ContractRegistry::FromDescriptorSetFiles({path});
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(registry.status().message(), HasSubstr(path));
  EXPECT_EQ(ContractRegistry::FromDescriptorSetFiles({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ContractRegistryTest, NamesAFileThatIsNotADescriptorSet) {
  const std::string path = WriteFile("not_a_set.binpb", "listener: { port: 8080 }\n");
  auto registry = ContractRegistry::FromDescriptorSetFiles({path});
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.status().message(), HasSubstr(path));
  EXPECT_THAT(registry.status().message(), HasSubstr("is not a descriptor set"));
}

TEST(ContractRegistryTest, NamesAnEmptySet) {
  const std::string path = WriteFile("empty.binpb", "");
  auto registry = ContractRegistry::FromDescriptorSetFiles({path});
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.status().message(), HasSubstr("holds no files"));
  EXPECT_THAT(registry.status().message(), HasSubstr(path));
}

TEST(ContractRegistryTest, NamesAFileThatDiffersBetweenSets) {
  FileDescriptorSet other = ParseSet(kShopSet);
  other.mutable_file(0)->mutable_message_type(0)->set_name("Thing");
  const std::string a = WriteFile("differ_a.binpb", ParseSet(kShopSet).SerializeAsString());
  const std::string b = WriteFile("differ_b.binpb", other.SerializeAsString());
  auto registry = ContractRegistry::FromDescriptorSetFiles({a, b});
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.status().message(), HasSubstr("\"shop/v1/types.proto\" differs"));
  EXPECT_THAT(registry.status().message(), HasSubstr(a));
  EXPECT_THAT(registry.status().message(), HasSubstr(b));
}

TEST(ContractRegistryTest, NamesAMissingImport) {
  FileDescriptorSet set = ParseSet(kShopSet);
  set.mutable_file()->DeleteSubrange(0, 1);  // without shop/v1/types.proto
  const std::string path = WriteFile("no_imports.binpb", set.SerializeAsString());
  auto registry = ContractRegistry::FromDescriptorSetFiles({path});
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.status().message(),
              HasSubstr("imports \"shop/v1/types.proto\", which no descriptor set holds"));
  EXPECT_THAT(registry.status().message(), HasSubstr("--include_imports"));
  EXPECT_THAT(registry.status().message(), HasSubstr(path));
}

TEST(ContractRegistryTest, NamesAnInvalidFile) {
  FileDescriptorSet set = ParseSet(kShopSet);
  set.mutable_file(1)->mutable_service(0)->mutable_method(0)->set_input_type(".shop.v1.Nope");
  auto registry = ContractRegistry::FromFileDescriptorSet(set);
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.status().message(), HasSubstr("\"shop/v1/shop.proto\""));
  EXPECT_THAT(registry.status().message(), HasSubstr("shop.v1.Nope"));
}

TEST(ContractRegistryTest, NamesAnImportCycle) {
  FileDescriptorSet set = ParseSet(kShopSet);
  set.mutable_file(0)->add_dependency("shop/v1/shop.proto");
  auto registry = ContractRegistry::FromFileDescriptorSet(set);
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.status().message(), HasSubstr("imports it back"));
}

TEST(ContractRegistryTest, NamesAFileTwiceInOneSet) {
  FileDescriptorSet set = ParseSet(kShopSet);
  *set.add_file() = set.file(0);
  EXPECT_TRUE(ContractRegistry::FromFileDescriptorSet(set).ok());  // the same twice
  set.mutable_file(3)->set_package("other");
  auto registry = ContractRegistry::FromFileDescriptorSet(set);
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(registry.status().message(), HasSubstr("twice, with different contents"));
}

}  // namespace
}  // namespace polymesh::gateway
