// `aoti-executord --status=ADDR` and `--clear-quarantine=ADDR`: operator
// commands against a running daemon. On its Unix socket they need an allowed
// user; over TCP, a client certificate ($AOTI_EXECUTOR_TLS_CA, _CERT, _KEY,
// as for the shim) that the daemon's --tls-client-ca signed.
#ifndef AOTI_EXECUTOR_SERVER_ADMIN_COMMANDS_H_
#define AOTI_EXECUTOR_SERVER_ADMIN_COMMANDS_H_

#include <string>

#include "absl/status/statusor.h"

namespace aoti_executor {

// The daemon's GetStatus answer, as text for a terminal.
absl::StatusOr<std::string> FetchStatusText(const std::string& listen);

// ClearQuarantine; returns how many nodes were quarantined.
absl::StatusOr<int> ClearQuarantine(const std::string& listen);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_ADMIN_COMMANDS_H_
