// `aoti-executord --health-check=ADDR`: asks a running daemon's
// grpc.health.v1.Health whether it serves, for probes (Kubernetes exec,
// systemd, scripts) that cannot speak gRPC over a Unix socket themselves.
#ifndef AOTI_EXECUTOR_SERVER_HEALTH_CHECK_H_
#define AOTI_EXECUTOR_SERVER_HEALTH_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace aoti_executor {

// OK iff the daemon at `listen` ("unix:/path" or "tcp:HOST:PORT") answers
// SERVING within `timeout`. Over TCP with TLS as the shim's variables say
// ($AOTI_EXECUTOR_TLS_CA..., $AOTI_EXECUTOR_INSECURE_TCP).
absl::Status CheckHealth(const std::string& listen, absl::Duration timeout);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_HEALTH_CHECK_H_
