// Small wrappers over BSD sockets for the data plane: non-blocking TCP
// listeners (SO_REUSEPORT) and connections, the owning descriptor type, and
// the one blocking helper, host name resolution, for the main thread at start.
//
// Usage:
//
//   absl::StatusOr<ScopedFd> listener = ListenTcp("127.0.0.1", 0);
//   absl::StatusOr<uint16_t> port = LocalPort(listener->get());
//   absl::StatusOr<ScopedFd> conn = ConnectTcp("127.0.0.1", 50051);  // in progress
//   absl::StatusOr<std::vector<std::string>> ips = ResolveHost("inference");
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_SOCKET_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_SOCKET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// Owns a file descriptor; closes it when destroyed.
class ScopedFd {
 public:
  ScopedFd() = default;
  // Takes ownership of `fd` (-1 for none).
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() { reset(); }
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }

  // The descriptor, or -1.
  int get() const { return fd_; }
  // Whether a descriptor is held.
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the descriptor, if any.
  void reset();

 private:
  int fd_ = -1;
};

// A listening, non-blocking TCP socket on `address`:`port` ("localhost" or a
// numeric IPv4/IPv6 address) with SO_REUSEADDR and SO_REUSEPORT, so that
// every worker can listen on the same port.
absl::StatusOr<ScopedFd> ListenTcp(absl::string_view address, uint16_t port);

// The local port a socket is bound to.
absl::StatusOr<uint16_t> LocalPort(int fd);

// Starts a non-blocking TCP connection (TCP_NODELAY) to `address`:`port`
// ("localhost" or a numeric IPv4/IPv6 address; never a name to look up);
// completion is signalled by EPOLLOUT, then ConnectResult() says how it went.
absl::StatusOr<ScopedFd> ConnectTcp(absl::string_view address, uint16_t port);

// The outcome of a non-blocking connect (SO_ERROR), as a status whose
// message is the system's error text.
absl::Status ConnectResult(int fd);

// The numeric addresses of `host`, as strings, every A and AAAA record
// (getaddrinfo order, duplicates dropped). A numeric address is returned as
// it is, and "localhost" is 127.0.0.1, as for listeners. BLOCKS on DNS: call
// it on the main thread before workers start, never on an event loop.
// NOT_FOUND when the name has no address, UNAVAILABLE when the lookup failed
// for now (a resolver that did not answer); the message is the resolver's
// (such as "Name or service not known").
absl::StatusOr<std::vector<std::string>> ResolveHost(absl::string_view host);

// Accepts one connection from a listener as a non-blocking socket with
// TCP_NODELAY; -1 with errno EAGAIN when none is waiting.
int AcceptNonBlocking(int listener_fd);

// The numeric IP address of the peer of a connected socket ("127.0.0.1",
// "::1"); "local" for a Unix socket, "" when it cannot be read.
std::string PeerIpAddress(int fd);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_SOCKET_H_
