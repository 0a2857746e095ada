// What the daemon, its workers and the shim must agree on, in one place.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_PROTOCOL_H_
#define AOTI_EXECUTOR_SERVER_COMMON_PROTOCOL_H_

#include <cstdint>

#include "absl/status/status.h"

namespace aoti_executor {

// Hello's protocol_version: a client and a daemon that differ refuse each
// other at once, naming both numbers.
inline constexpr uint32_t kProtocolVersion = 1;

// gRPC's message limit on both ends: the JSON of a model with tens of
// thousands of extern nodes is far beyond gRPC's 4 MiB default.
inline constexpr int kMaxMessageBytes = 1 << 30;

// The attach socket's path is the gRPC socket's plus this, unless
// --attach-socket says otherwise.
inline constexpr char kAttachSocketSuffix[] = ".attach";

// A failed call's status code as a worker sent it: one that gRPC and absl
// define (1-16), or UNKNOWN, so that a misbehaving worker cannot hand the
// client a code no caller expects.
inline absl::StatusCode FailureCodeFromWire(int32_t code) {
  return code >= 1 && code <= 16 ? static_cast<absl::StatusCode>(code)
                                 : absl::StatusCode::kUnknown;
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_PROTOCOL_H_
