// Early-return helpers for absl::Status and absl::StatusOr, and context for
// messages.
//
// Debian's abseil (20220623) ships no RETURN_IF_ERROR / ASSIGN_OR_RETURN, so
// the project defines them once, here.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_STATUS_MACROS_H_
#define AOTI_EXECUTOR_SERVER_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

// Returns from the enclosing function with `expr`'s status if it is not OK.
#define AOTI_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status aoti_status_ = (expr);        \
    if (!aoti_status_.ok()) return aoti_status_; \
  } while (0)

#define AOTI_STATUS_CONCAT_INNER_(a, b) a##b
#define AOTI_STATUS_CONCAT_(a, b) AOTI_STATUS_CONCAT_INNER_(a, b)

// `AOTI_ASSIGN_OR_RETURN(auto x, F())` declares `x` from F()'s value, or
// returns F()'s status from the enclosing function.
#define AOTI_ASSIGN_OR_RETURN(lhs, expr)                                     \
  AOTI_ASSIGN_OR_RETURN_IMPL_(AOTI_STATUS_CONCAT_(aoti_statusor_, __LINE__), \
                              lhs, expr)

// `lhs` is a declaration ("auto x"), which parentheses would break.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define AOTI_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)   \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

namespace aoti_executor {

// `status` with "context: " in front of its message and the same code, so an
// error names where it happened (the node, the argument) as it travels up.
inline absl::Status WithContext(const absl::Status& status,
                                absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.message()));
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_STATUS_MACROS_H_
