#include "auth/api_keys.h"

#include "auth/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string KeyFile(absl::string_view entries) { return absl::StrCat("keys:\n", entries); }

TEST(ApiKeysTest, FindsTheCallerOfAKeyByItsHash) {
  absl::StatusOr<std::shared_ptr<const ApiKeys>> keys = ApiKeys::Parse(
      KeyFile(absl::StrCat("  - name: demo\n    sha256: ", Sha256Hex("demo-key"),
                           "\n    groups: [ai-users, users]\n    requests_per_second: 5\n"
                           "  - name: ops\n    sha256: ",
                           Sha256Hex("ops-key"), "\n")),
      "keys.yaml");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)->size(), 2u);
  const ApiKeyCaller* demo = (*keys)->Find("demo-key");
  ASSERT_NE(demo, nullptr);
  EXPECT_EQ(demo->name, "demo");
  EXPECT_THAT(demo->groups, ElementsAre("ai-users", "users"));
  const ApiKeyCaller* ops = (*keys)->Find("ops-key");
  ASSERT_NE(ops, nullptr);
  EXPECT_TRUE(ops->groups.empty());
  EXPECT_EQ((*keys)->Find("demo-key "), nullptr);
  EXPECT_EQ((*keys)->Find(""), nullptr);
  // The hash itself is not a key.
  EXPECT_EQ((*keys)->Find(Sha256Hex("demo-key")), nullptr);
}

TEST(ApiKeysTest, RefusesAKeyInTheClear) {
  absl::StatusOr<std::shared_ptr<const ApiKeys>> keys =
      ApiKeys::Parse(KeyFile("  - name: demo\n    key: polymesh-demo-key\n"), "keys.yaml");
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(keys.status().message(), HasSubstr("keys.yaml: keys[0] (demo).key"));
  EXPECT_THAT(keys.status().message(), HasSubstr("sha256sum"));
}

TEST(ApiKeysTest, RefusesBrokenEntries) {
  const std::string hash = Sha256Hex("k");
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"nokeys: []\n", "want a list of keys"},
           {"keys: [\n", "not YAML"},
           {KeyFile("  - sha256: " + hash + "\n"), "keys[0].name: required"},
           {KeyFile("  - name: a\n"), "keys[0] (a).sha256: required"},
           {KeyFile("  - name: a\n    sha256: abc\n"), "want 64 hexadecimal digits"},
           {KeyFile("  - name: a\n    sha256: " + hash + "\n  - name: a\n    sha256: " +
                    Sha256Hex("other") + "\n"),
            "keys[1] (a).name: used by an earlier key"},
           {KeyFile("  - name: a\n    sha256: " + hash + "\n  - name: b\n    sha256: " + hash +
                    "\n"),
            "keys[1] (b).sha256: the same key as an earlier entry"},
           {KeyFile("  - name: a\n    sha256: " + hash + "\n    groups: ops\n"),
            "want a list of group names"},
       }) {
    absl::StatusOr<std::shared_ptr<const ApiKeys>> keys = ApiKeys::Parse(text, "keys.yaml");
    ASSERT_FALSE(keys.ok()) << text;
    EXPECT_THAT(keys.status().message(), HasSubstr(want)) << text;
  }
}

TEST(ApiKeysTest, ReadFileNamesAMissingFile) {
  absl::StatusOr<std::shared_ptr<const ApiKeys>> keys = ApiKeys::ReadFile("/nonexistent/k.yaml");
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(keys.status().message(), HasSubstr("/nonexistent/k.yaml"));
}

}  // namespace
}  // namespace polymesh::gateway
