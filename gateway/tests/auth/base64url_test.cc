#include "auth/base64url.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::Optional;

TEST(Base64UrlTest, EncodesWithoutPadding) {
  // RFC 4648 §10, padding removed.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(Base64UrlTest, UsesTheUrlSafeAlphabet) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_THAT(Base64UrlDecode("-_-_"), Optional(std::string("\xfb\xff\xbf")));
}

TEST(Base64UrlTest, DecodesWhatItEncodes) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (size_t size = 0; size <= bytes.size(); ++size) {
    const std::string prefix = bytes.substr(0, size);
    EXPECT_THAT(Base64UrlDecode(Base64UrlEncode(prefix)), Optional(prefix)) << size;
  }
  EXPECT_THAT(Base64UrlDecode("Zm9vYmE"), Optional(std::string("fooba")));
  EXPECT_THAT(Base64UrlDecode(""), Optional(std::string()));
}

TEST(Base64UrlTest, RefusesPadding) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm8=").has_value());
  EXPECT_FALSE(Base64UrlDecode("=").has_value());
}

TEST(Base64UrlTest, RefusesCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(Base64UrlDecode("+/+/").has_value());  // standard base64
  EXPECT_FALSE(Base64UrlDecode("Zm9v Yg").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v\nYg").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v.Yg").has_value());
  EXPECT_FALSE(Base64UrlDecode(std::string("Zm\0v", 4)).has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9\xc3\xa9").has_value());
}

TEST(Base64UrlTest, RefusesImpossibleLengths) {
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").has_value());
}

TEST(Base64UrlTest, RefusesNonZeroBitsAfterTheLastByte) {
  // "Zh" and "Zm9" would decode to "f" and "fo" with stray bits set.
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9").has_value());
  EXPECT_THAT(Base64UrlDecode("Zg"), Optional(std::string("f")));
  EXPECT_THAT(Base64UrlDecode("Zm8"), Optional(std::string("fo")));
}

}  // namespace
}  // namespace polymesh::gateway
