// Early-return helpers for absl::Status and absl::StatusOr.
//
// Usage:
//
//   absl::Status Load(const std::string& path) {
//     RETURN_IF_ERROR(CheckReadable(path));
//     ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     ...
//   }
#ifndef POLYMESH_GATEWAY_SRC_COMMON_STATUS_MACROS_H_
#define POLYMESH_GATEWAY_SRC_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns the status of `expr` from the enclosing function if it is not OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    const ::absl::Status polymesh_status_ = (expr);             \
    if (!polymesh_status_.ok()) return polymesh_status_;        \
  } while (false)

#define POLYMESH_STATUS_CONCAT_INNER_(a, b) a##b
#define POLYMESH_STATUS_CONCAT_(a, b) POLYMESH_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status from the
// enclosing function if it is not OK, else assigns its value to `lhs`, which
// may be a declaration (`ASSIGN_OR_RETURN(auto x, F());`).
#define ASSIGN_OR_RETURN(lhs, rexpr)                                         \
  POLYMESH_ASSIGN_OR_RETURN_IMPL_(                                           \
      POLYMESH_STATUS_CONCAT_(polymesh_statusor_, __LINE__), lhs, rexpr)

#define POLYMESH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = *std::move(statusor)

#endif  // POLYMESH_GATEWAY_SRC_COMMON_STATUS_MACROS_H_
