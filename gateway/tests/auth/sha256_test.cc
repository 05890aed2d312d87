#include "auth/sha256.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

TEST(Sha256Test, MatchesTheKnownDigests) {
  // FIPS 180-2 examples.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, ParsesHexInEitherCase) {
  const std::string hex = Sha256Hex("polymesh-demo-key");
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(ParseSha256Hex(hex).has_value());
  EXPECT_EQ(*ParseSha256Hex(hex), Sha256("polymesh-demo-key"));
  EXPECT_EQ(*ParseSha256Hex(upper), Sha256("polymesh-demo-key"));
}

TEST(Sha256Test, RefusesWhatIsNotADigest) {
  EXPECT_FALSE(ParseSha256Hex("").has_value());
  EXPECT_FALSE(ParseSha256Hex("abcd").has_value());
  EXPECT_FALSE(ParseSha256Hex(std::string(64, 'g')).has_value());
  EXPECT_FALSE(ParseSha256Hex(std::string(66, 'a')).has_value());
}

}  // namespace
}  // namespace polymesh::gateway
