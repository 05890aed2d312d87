// Fuzzes the percent-encoding of grpc-message values (common/grpc_status.h):
// the gateway encodes the messages of the errors it raises and decodes the
// upstream's for its spans.
//
// Properties: an encoded message is a valid header value of printable ASCII
// where '%' only starts an escape of two upper-case hex digits, printable
// bytes other than '%' pass unchanged, and decoding it gives back the
// message; decoding arbitrary bytes never grows them, leaves text without
// '%' unchanged, and is undone by encoding when the bytes were an encoding.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/grpc_status.h"
#include "fuzz_check.h"

namespace {

using ::polymesh::fuzz::Escaped;

bool IsUpperHex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

// Whether `value` is what PercentEncodeGrpcMessage writes for some message:
// printable ASCII, '%' only in escapes, and escapes only for bytes that
// need one.
bool IsCanonicalEncoding(absl::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (byte < 0x20 || byte > 0x7e) return false;
    if (byte != '%') continue;
    if (i + 2 >= value.size() || !IsUpperHex(value[i + 1]) || !IsUpperHex(value[i + 2])) {
      return false;
    }
    const int hex_high = value[i + 1] <= '9' ? value[i + 1] - '0' : value[i + 1] - 'A' + 10;
    const int hex_low = value[i + 2] <= '9' ? value[i + 2] - '0' : value[i + 2] - 'A' + 10;
    const int escaped = hex_high * 16 + hex_low;
    if (escaped >= 0x20 && escaped <= 0x7e && escaped != '%') return false;
    i += 2;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using polymesh::gateway::PercentDecodeGrpcMessage;
  using polymesh::gateway::PercentEncodeGrpcMessage;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  // The input as a message.
  const std::string encoded = PercentEncodeGrpcMessage(input);
  FUZZ_CHECK(IsCanonicalEncoding(encoded)) << Escaped(input) << " -> " << Escaped(encoded);
  FUZZ_CHECK(nghttp2_check_header_value(reinterpret_cast<const uint8_t*>(encoded.data()),
                                        encoded.size()) != 0)
      << "not a header value: " << Escaped(encoded);
  size_t escapes = 0;
  for (const char c : input) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || byte == '%') ++escapes;
  }
  FUZZ_CHECK(encoded.size() == input.size() + 2 * escapes) << Escaped(input);
  if (escapes == 0) FUZZ_CHECK(encoded == input) << Escaped(input);
  const std::string decoded = PercentDecodeGrpcMessage(encoded);
  FUZZ_CHECK(decoded == input) << Escaped(input) << " -> " << Escaped(encoded) << " -> "
                               << Escaped(decoded);

  // The input as a received header value.
  const std::string received = PercentDecodeGrpcMessage(input);
  FUZZ_CHECK(received.size() <= input.size()) << Escaped(input);
  if (input.find('%') == absl::string_view::npos) {
    FUZZ_CHECK(received == input) << Escaped(input) << " -> " << Escaped(received);
  }
  if (IsCanonicalEncoding(input)) {
    FUZZ_CHECK(PercentEncodeGrpcMessage(received) == input)
        << Escaped(input) << " -> " << Escaped(received);
  }
  return 0;
}
