// The bytes of a gRPC C++ ByteBuffer as one string, for the callers that
// use the gRPC C++ client with raw messages (the health checker, `polymesh
// call`). Header-only: its users link gRPC C++ already.
//
// Usage:
//
//   std::string bytes = ByteBufferToString(response);
//   message.ParseFromString(bytes);
#ifndef POLYMESH_GATEWAY_SRC_COMMON_BYTE_BUFFER_H_
#define POLYMESH_GATEWAY_SRC_COMMON_BYTE_BUFFER_H_

#include <string>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

namespace polymesh::gateway {

// The buffer's slices joined; empty when the buffer cannot be read.
inline std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_BYTE_BUFFER_H_
