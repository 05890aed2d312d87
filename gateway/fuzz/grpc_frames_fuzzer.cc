// Fuzzes the gRPC message framing of request and response bodies
// (transport/grpc_frames.h): GrpcMessageScanner fed a byte stream in
// arbitrary pieces, as DATA frames cut it, against an arbitrary limit.
//
// Input: 4 bytes of limit, 1 byte that seeds how the stream is cut, then
// the stream.
//
// Properties: the first oversized message is found whatever the cut (the
// same as scanning the whole stream at once, and as a plain reading of the
// 5-byte prefixes), and at the piece that holds the last byte of its prefix.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_check.h"
#include "transport/grpc_frames.h"

namespace {

// The declared length of the first message longer than `limit`, and the
// offset just past its prefix; {0, 0} when there is none.
struct Oversized {
  uint32_t size = 0;
  size_t prefix_end = 0;
};

Oversized Reference(const uint8_t* data, size_t length, uint32_t limit) {
  size_t at = 0;
  while (length - at >= 5) {
    const uint32_t size = (uint32_t{data[at + 1]} << 24) | (uint32_t{data[at + 2]} << 16) |
                          (uint32_t{data[at + 3]} << 8) | uint32_t{data[at + 4]};
    if (size > limit) return {size, at + 5};
    if (length - at - 5 < size) break;
    at += 5 + size;
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using polymesh::gateway::GrpcMessageScanner;
  if (size < 5) return 0;
  uint32_t limit;
  std::memcpy(&limit, data, sizeof(limit));
  // Small limits too, so that they are hit.
  if ((limit >> 31) == 0) limit &= 0xffff;
  uint8_t seed = data[4];
  data += 5;
  size -= 5;

  const Oversized expected = Reference(data, size, limit);

  GrpcMessageScanner whole;
  FUZZ_CHECK(whole.Feed(data, size, limit) == expected.size)
      << "whole stream: size " << size << ", limit " << limit;

  // Pieces of 1 to 64 bytes (the empty piece too, now and then).
  GrpcMessageScanner cut;
  size_t at = 0;
  uint32_t found = 0;
  size_t found_end = 0;
  while (at < size && found == 0) {
    seed = static_cast<uint8_t>(seed * 37 + 11);
    const size_t piece = seed % 7 == 0 ? 0 : 1 + seed % 64;
    const size_t length = piece < size - at ? piece : size - at;
    found = cut.Feed(data + at, length, limit);
    at += length;
    found_end = at;
  }
  FUZZ_CHECK(found == expected.size) << "cut stream: " << found << " != " << expected.size;
  if (found != 0) {
    // The piece that completed the prefix reported it.
    FUZZ_CHECK(found_end >= expected.prefix_end && found_end - expected.prefix_end < 64)
        << "reported at " << found_end << ", prefix ends at " << expected.prefix_end;
  }

  // Byte by byte.
  GrpcMessageScanner bytes;
  found = 0;
  for (at = 0; at < size && found == 0; ++at) found = bytes.Feed(data + at, 1, limit);
  FUZZ_CHECK(found == expected.size) << "byte by byte: " << found << " != " << expected.size;
  if (found != 0) FUZZ_CHECK(at == expected.prefix_end) << at << " != " << expected.prefix_end;
  return 0;
}
