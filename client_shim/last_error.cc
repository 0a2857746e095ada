#include "client_shim/last_error.h"

#include <c10/util/Exception.h>

#include <exception>
#include <new>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace client {
namespace {

thread_local std::string last_error;

}  // namespace

std::string FormatStatus(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                      status.message());
}

absl::Status CurrentExceptionStatus() noexcept {
  try {
    try {
      throw;
    } catch (const c10::Error& e) {
      return absl::InternalError(e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("out of memory");
    } catch (const std::exception& e) {
      return absl::InternalError(e.what());
    } catch (...) {
      return absl::UnknownError("an exception that is not a std::exception");
    }
  } catch (...) {
    // Building the message threw (out of memory): a status needing no memory.
    return absl::Status(absl::StatusCode::kResourceExhausted, "");
  }
}

void SetLastError(const absl::Status& status) noexcept {
  try {
    last_error = FormatStatus(status);
  } catch (...) {
    // Out of memory while formatting: keep a message that needs none.
    last_error.clear();
    try {
      last_error = "out of memory while reporting an error";
    } catch (...) {
    }
  }
}

const char* LastError() noexcept { return last_error.c_str(); }

}  // namespace client
}  // namespace aoti_executor
