#include "transport/socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/host_port.h"

namespace polymesh::gateway {
namespace {

// A socket address parsed from a numeric IP (or "localhost").
struct ResolvedAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

absl::StatusOr<ResolvedAddress> Resolve(absl::string_view address, uint16_t port) {
  ResolvedAddress resolved;
  const std::string host =
      address == "localhost" ? std::string("127.0.0.1") : std::string(address);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&resolved.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&resolved.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    resolved.length = sizeof(sockaddr_in);
    resolved.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    resolved.length = sizeof(sockaddr_in6);
    resolved.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", address, "\" is not a numeric IP address or \"localhost\""));
  }
  return resolved;
}

absl::Status ErrnoError(absl::string_view what, absl::string_view address,
                        uint16_t port) {
  return absl::UnavailableError(absl::StrCat(what, " ", JoinHostPort(address, port), ": ",
                                             std::strerror(errno)));
}

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

void ScopedFd::reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::StatusOr<ScopedFd> ListenTcp(absl::string_view address, uint16_t port) {
  absl::StatusOr<ResolvedAddress> resolved = Resolve(address, port);
  if (!resolved.ok()) return resolved.status();
  ScopedFd fd(socket(resolved->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket for", address, port);
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return ErrnoError("SO_REUSEPORT on", address, port);
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&resolved->storage),
           resolved->length) != 0) {
    return ErrnoError("cannot bind", address, port);
  }
  if (listen(fd.get(), SOMAXCONN) != 0) return ErrnoError("cannot listen on", address, port);
  return fd;
}

absl::StatusOr<uint16_t> LocalPort(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", std::strerror(errno)));
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

absl::StatusOr<ScopedFd> ConnectTcp(absl::string_view address, uint16_t port) {
  absl::StatusOr<ResolvedAddress> resolved = Resolve(address, port);
  if (!resolved.ok()) return resolved.status();
  ScopedFd fd(socket(resolved->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket for", address, port);
  SetNoDelay(fd.get());
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&resolved->storage),
              resolved->length) != 0 &&
      errno != EINPROGRESS) {
    return ErrnoError("cannot connect to", address, port);
  }
  return fd;
}

absl::Status ConnectResult(int fd) {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error == 0) return absl::OkStatus();
  return absl::UnavailableError(std::strerror(error));
}

absl::StatusOr<std::vector<std::string>> ResolveHost(absl::string_view host) {
  if (host == "localhost") return std::vector<std::string>{"127.0.0.1"};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* found = nullptr;
  const std::string name(host);
  const int error = getaddrinfo(name.c_str(), nullptr, &hints, &found);
  if (error != 0) {
    const std::string message =
        error == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(error);
    if (error == EAI_AGAIN) return absl::UnavailableError(message);
    return absl::NotFoundError(message);
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, &freeaddrinfo);
  std::vector<std::string> addresses;
  for (const addrinfo* info = found; info != nullptr; info = info->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = nullptr;
    if (info->ai_family == AF_INET) {
      raw = &reinterpret_cast<const sockaddr_in*>(info->ai_addr)->sin_addr;
    } else if (info->ai_family == AF_INET6) {
      raw = &reinterpret_cast<const sockaddr_in6*>(info->ai_addr)->sin6_addr;
    } else {
      continue;
    }
    if (inet_ntop(info->ai_family, raw, text, sizeof(text)) == nullptr) continue;
    if (std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
      addresses.emplace_back(text);
    }
  }
  if (addresses.empty()) {
    return absl::NotFoundError("no IPv4 or IPv6 address");
  }
  return addresses;
}

int AcceptNonBlocking(int listener_fd) {
  const int fd = accept4(listener_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) SetNoDelay(fd);
  return fd;
}

std::string PeerIpAddress(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {};
  switch (address.ss_family) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text,
                sizeof(text));
      return text;
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, text,
                sizeof(text));
      return text;
    case AF_UNIX:
      return "local";
    default:
      return "";
  }
}

}  // namespace polymesh::gateway
