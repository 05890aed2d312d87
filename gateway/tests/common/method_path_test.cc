#include "common/method_path.h"

#include <optional>

#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

TEST(MethodPathTest, SplitsAPathIntoItsParts) {
  std::optional<MethodPath> path = MethodPath::Parse("/polymesh.ai.v1.AIService/Predict");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(path->name(), "polymesh.ai.v1.AIService/Predict");
  EXPECT_EQ(path->service(), "polymesh.ai.v1.AIService");
  EXPECT_EQ(path->package(), "polymesh.ai.v1");
  EXPECT_EQ(path->method(), "Predict");
  EXPECT_EQ(path->Path(), "/polymesh.ai.v1.AIService/Predict");
  EXPECT_EQ(path->FullName(), "polymesh.ai.v1.AIService.Predict");
}

TEST(MethodPathTest, AServiceOutsideAnyPackageHasAnEmptyPackage) {
  std::optional<MethodPath> path = MethodPath::Parse("/Echo/Unary");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(path->service(), "Echo");
  EXPECT_EQ(path->package(), "");
  EXPECT_EQ(path->method(), "Unary");
}

TEST(MethodPathTest, TheShortestPath) {
  std::optional<MethodPath> path = MethodPath::Parse("/a/b");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(path->service(), "a");
  EXPECT_EQ(path->method(), "b");
}

TEST(MethodPathTest, RejectsWhatIsNotAMethodPath) {
  for (absl::string_view bad :
       {"", "/", "//", "/a", "/a/", "//b", "a/b", "/a/b/", "/a/b/c", "/pkg.Service",
        "pkg.Service/Method", "/pkg.Service//Method"}) {
    EXPECT_FALSE(MethodPath::Parse(bad).has_value()) << bad;
  }
}

TEST(MethodPathTest, ANameMayOmitTheLeadingSlash) {
  std::optional<MethodPath> named = MethodPath::ParseName("pkg.Service/Method");
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(named->service(), "pkg.Service");
  EXPECT_EQ(named->method(), "Method");
  EXPECT_EQ(named->Path(), "/pkg.Service/Method");
  std::optional<MethodPath> slashed = MethodPath::ParseName("/pkg.Service/Method");
  ASSERT_TRUE(slashed.has_value());
  EXPECT_EQ(slashed->name(), "pkg.Service/Method");
}

TEST(MethodPathTest, ANameFollowsTheSameRule) {
  for (absl::string_view bad : {"", "/", "pkg.Service", "pkg.Service.Method", "/Method",
                                "pkg.Service/", "a/b/c", "//a/b"}) {
    EXPECT_FALSE(MethodPath::ParseName(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace polymesh::gateway
