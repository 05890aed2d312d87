// A gRPC method path, "/package.Service/Method", and its parts: the one rule
// for what a method path is, for routing, tracing, the contracts, the
// configuration checks and the command-line client.
//
// A path is "/", a service's full name, "/", a method name: neither name
// empty, no other "/". The package is what precedes the service name's last
// dot ("" for a service outside any package).
//
// Usage:
//
//   std::optional<MethodPath> path = MethodPath::Parse(":path value");
//   if (path) Route(path->service(), path->method());
//   // "polymesh.ai.v1.AIService/Predict", as routes write it:
//   std::optional<MethodPath> named = MethodPath::ParseName(route.match().method());
//
// A MethodPath holds views into the text it was parsed from, which must
// outlive it.
#ifndef POLYMESH_GATEWAY_SRC_COMMON_METHOD_PATH_H_
#define POLYMESH_GATEWAY_SRC_COMMON_METHOD_PATH_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// The parts of a method path; views into the parsed text.
class MethodPath {
 public:
  // `path` as "/package.Service/Method"; nullopt when it is not one.
  static std::optional<MethodPath> Parse(absl::string_view path);

  // `name` as "package.Service/Method", with or without the leading "/" (how
  // routes and command lines name a method); nullopt when it is not one.
  static std::optional<MethodPath> ParseName(absl::string_view name);

  // "package.Service/Method": the path without its leading "/".
  absl::string_view name() const { return name_; }
  // "package.Service": the service's full name.
  absl::string_view service() const { return name_.substr(0, slash_); }
  // "package" ("" when the service is in no package).
  absl::string_view package() const;
  // "Method".
  absl::string_view method() const { return name_.substr(slash_ + 1); }

  // "/package.Service/Method".
  std::string Path() const;
  // "package.Service.Method": the method's full name in descriptors.
  std::string FullName() const;

 private:
  MethodPath(absl::string_view name, size_t slash) : name_(name), slash_(slash) {}

  absl::string_view name_;
  size_t slash_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_METHOD_PATH_H_
