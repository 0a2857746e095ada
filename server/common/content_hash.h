// The content hash of a kernel set: hex SHA-256 of the device, a NUL, and
// the JSON. The daemon caches kernel sets by it, and a shim that has
// registered a set once asks for it by this hash instead of sending the
// JSON again.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_CONTENT_HASH_H_
#define AOTI_EXECUTOR_SERVER_COMMON_CONTENT_HASH_H_

#include <string>

#include "absl/strings/string_view.h"

namespace aoti_executor {

std::string KernelSetContentHash(absl::string_view json,
                                 absl::string_view device);

// Hex SHA-256 of `bytes`.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_CONTENT_HASH_H_
