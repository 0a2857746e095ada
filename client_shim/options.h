// What an executor is configured with: its endpoint, device and deadlines,
// from create's arguments and the environment (read once, at create).
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_OPTIONS_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_OPTIONS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/common/endpoint.h"

namespace aoti_executor {
namespace client {

inline constexpr char kCallTimeoutEnvVar[] = "AOTI_EXECUTOR_CALL_TIMEOUT_MS";
inline constexpr char kConnectTimeoutEnvVar[] =
    "AOTI_EXECUTOR_CONNECT_TIMEOUT_MS";
// "1" (or true/yes/on): run calls in-process while the daemon is unreachable.
inline constexpr char kLocalFallbackEnvVar[] = "AOTI_EXECUTOR_LOCAL_FALLBACK";
// "0" (or false/no/off): every call takes the Call RPC, none the call lane.
inline constexpr char kCallLaneEnvVar[] = "AOTI_EXECUTOR_CALL_LANE";
inline constexpr int64_t kDefaultCallTimeoutMs = 30000;
inline constexpr int64_t kDefaultConnectTimeoutMs = 5000;

struct ExecutorOptions {
  Endpoint endpoint;
  // The runtime device the kernels are registered for.
  std::string device = "cpu";
  // Deadline of each call_function, from its start.
  absl::Duration call_timeout = absl::Milliseconds(kDefaultCallTimeoutMs);
  // How long create waits for the daemon to answer.
  absl::Duration connect_timeout = absl::Milliseconds(kDefaultConnectTimeoutMs);
  // Whether calls run in-process, with the same semantics, while the daemon
  // cannot be reached (see LocalFallback). Off unless the host asks.
  bool local_fallback = false;
  // Whether small calls go to the worker over the session's call lane
  // (shared memory, futex doorbells) rather than the Call RPC. On unless the
  // host turns it off.
  bool call_lane = true;
};

// Options from create's arguments (`endpoint` and `device` may be NULL) and
// the environment; for a tcp: endpoint also its TLS settings
// ($AOTI_EXECUTOR_TLS_CA, _CERT, _KEY, _SERVER_NAME, or
// $AOTI_EXECUTOR_INSECURE_TCP: server/common/transport_security.h), their
// files read now. InvalidArgument, naming the variable, for a timeout that
// is not a positive number of milliseconds, a switch that is not one of
// 1/true/yes/on, 0/false/no/off (any case) or empty, or a TLS file that
// cannot be read.
absl::StatusOr<ExecutorOptions> OptionsFromEnvironment(const char* endpoint,
                                                       const char* device);

// `value` (the text of `name`) as a positive number of milliseconds, or
// `fallback` if `value` is NULL or empty.
absl::StatusOr<absl::Duration> ParseTimeoutMs(const char* name,
                                              const char* value,
                                              int64_t fallback);

// `value` (the text of `name`) as a switch: false if NULL or empty.
absl::StatusOr<bool> ParseSwitch(const char* name, const char* value);

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_OPTIONS_H_
