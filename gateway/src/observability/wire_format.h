// The few pieces of the protobuf wire format that the span exporter writes
// by hand: varints, tags, length-delimited and fixed-width fields.
//
// Usage:
//
//   std::string out;
//   wire::PutLengthDelimited(out, Span::kNameFieldNumber, "name");
//   wire::PutFixed64(out, Span::kStartTimeUnixNanoFieldNumber, nanos);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_WIRE_FORMAT_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_WIRE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace polymesh::observability::wire {

// The wire types of the protobuf encoding.
enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kFixed32 = 5,
};

// Appends `value` as a base-128 varint.
inline void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// The bytes PutVarint writes for `value`.
inline size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

// Appends the key of field `field` with wire type `type`.
inline void PutTag(std::string& out, int field, WireType type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(type));
}

// Appends a bytes, string or message field.
inline void PutLengthDelimited(std::string& out, int field, std::string_view bytes) {
  PutTag(out, field, WireType::kLengthDelimited);
  PutVarint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

// Appends a fixed64 (or double, as its bits) field, little-endian.
inline void PutFixed64(std::string& out, int field, uint64_t value) {
  PutTag(out, field, WireType::kFixed64);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Appends a fixed32 field, little-endian.
inline void PutFixed32(std::string& out, int field, uint32_t value) {
  PutTag(out, field, WireType::kFixed32);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace polymesh::observability::wire

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_WIRE_FORMAT_H_
