#include "common/host_port.h"

#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

TEST(JoinHostPortTest, BracketsOnlyIpv6Literals) {
  EXPECT_EQ(JoinHostPort("127.0.0.1", 8080), "127.0.0.1:8080");
  EXPECT_EQ(JoinHostPort("localhost", 9901), "localhost:9901");
  EXPECT_EQ(JoinHostPort("::1", 50051), "[::1]:50051");
  EXPECT_EQ(JoinHostPort("fe80::1%eth0", 1), "[fe80::1%eth0]:1");
}

}  // namespace
}  // namespace polymesh::gateway
