#include "transport/grpc_frames.h"

#include <string>

#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

std::string Message(uint32_t size) {
  std::string out = {0, static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                     static_cast<char>(size >> 8), static_cast<char>(size)};
  out.append(size, 'm');
  return out;
}

uint32_t FeedInPieces(GrpcMessageScanner& scanner, const std::string& bytes, size_t piece,
                      uint32_t limit) {
  for (size_t at = 0; at < bytes.size(); at += piece) {
    const size_t n = std::min(piece, bytes.size() - at);
    if (uint32_t size =
            scanner.Feed(reinterpret_cast<const uint8_t*>(bytes.data()) + at, n, limit)) {
      return size;
    }
  }
  return 0;
}

TEST(GrpcMessageScannerTest, FindsTheFirstOversizeMessageAcrossAnySplit) {
  const std::string stream = Message(10) + Message(0) + Message(100) + Message(300) + Message(5);
  for (size_t piece : {1, 2, 3, 5, 7, 64, 1000}) {
    GrpcMessageScanner scanner;
    EXPECT_EQ(FeedInPieces(scanner, stream, piece, 200), 300u) << "piece " << piece;
    GrpcMessageScanner roomy;
    EXPECT_EQ(FeedInPieces(roomy, stream, piece, 300), 0u) << "piece " << piece;
  }
}

TEST(GrpcMessageScannerTest, ReadsTheLengthBigEndian) {
  GrpcMessageScanner scanner;
  const uint8_t prefix[] = {1, 0x01, 0x00, 0x00, 0x00};  // compressed, 16 MiB
  EXPECT_EQ(scanner.Feed(prefix, sizeof(prefix), 4u << 20), 16u << 20);
}

}  // namespace
}  // namespace polymesh::gateway
