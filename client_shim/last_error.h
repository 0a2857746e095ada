// The C ABI's error channel: one message per thread, set by every failing
// entry point, read by aoti_remote_last_error().
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_LAST_ERROR_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_LAST_ERROR_H_

#include <string>

#include "absl/status/status.h"

namespace aoti_executor {
namespace client {

// "CODE: message", as the C ABI reports a failure.
std::string FormatStatus(const absl::Status& status);

// The exception being handled, as a status (call only inside a catch
// block): a c10::Error's message without its backtrace, bad_alloc as
// ResourceExhausted, anything else as Internal or Unknown.
absl::Status CurrentExceptionStatus() noexcept;

// Stores `status` (not OK) as this thread's last error. Never throws.
void SetLastError(const absl::Status& status) noexcept;

// This thread's last error, "" if there was none. Valid until the next
// SetLastError on this thread.
const char* LastError() noexcept;

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_LAST_ERROR_H_
