// Finds the length of each gRPC message in a byte stream without copying
// or parsing it: the 5-byte prefix (compressed flag, 4-byte big-endian
// length) of every length-prefixed message, across DATA frames.
//
//   GrpcMessageScanner scanner;
//   uint32_t size = scanner.Feed(data, length, limit);  // 0: all within limit
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_GRPC_FRAMES_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_GRPC_FRAMES_H_

#include <cstddef>
#include <cstdint>

namespace polymesh::gateway {

class GrpcMessageScanner {
 public:
  // Scans more bytes of the stream. Returns the length of the first message
  // whose prefix (seen in these bytes) declares more than `limit` bytes, or
  // 0 when there is none.
  uint32_t Feed(const uint8_t* data, size_t length, uint32_t limit) {
    size_t at = 0;
    while (at < length) {
      if (body_left_ > 0) {
        const size_t skip = length - at < body_left_ ? length - at : body_left_;
        body_left_ -= skip;
        at += skip;
        continue;
      }
      prefix_[prefix_have_++] = data[at++];
      if (prefix_have_ < 5) continue;
      prefix_have_ = 0;
      const uint32_t size = (uint32_t{prefix_[1]} << 24) | (uint32_t{prefix_[2]} << 16) |
                            (uint32_t{prefix_[3]} << 8) | uint32_t{prefix_[4]};
      if (size > limit) return size;
      body_left_ = size;
    }
    return 0;
  }

 private:
  uint64_t body_left_ = 0;
  uint8_t prefix_[5] = {0, 0, 0, 0, 0};
  int prefix_have_ = 0;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_GRPC_FRAMES_H_
