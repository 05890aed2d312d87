// A minimal blocking HTTP/1.1 GET for tests of the admin listener.
#ifndef POLYMESH_GATEWAY_TEST_ADMIN_HTTP_GET_H_
#define POLYMESH_GATEWAY_TEST_ADMIN_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace polymesh::gateway::testing {

struct HttpResponse {
  int status = 0;  // 0: no answer
  std::string body;
};

// A TCP connection to 127.0.0.1:<port> with a 10 s receive timeout, or -1.
inline int ConnectLoopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// GET http://127.0.0.1:<port><path>, the connection closed after it, with
// `authorization` as that header when not empty.
inline HttpResponse HttpGet(uint16_t port, const std::string& path,
                            const std::string& authorization = "") {
  HttpResponse response;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return response;
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                   authorization.empty() ? "" : absl::StrCat("Authorization: ", authorization,
                                                             "\r\n"),
                   "\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return response;
  }
  std::string raw;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) raw.append(buffer, n);
  close(fd);
  const size_t space = raw.find(' ');
  const size_t header_end = raw.find("\r\n\r\n");
  if (space == std::string::npos || header_end == std::string::npos) return response;
  if (!absl::SimpleAtoi(raw.substr(space + 1, 3), &response.status)) return response;
  response.body = raw.substr(header_end + 4);
  return response;
}

}  // namespace polymesh::gateway::testing

#endif  // POLYMESH_GATEWAY_TEST_ADMIN_HTTP_GET_H_
