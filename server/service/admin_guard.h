// Who may make the daemon's admin calls (GetStatus, ClearQuarantine): an
// allowed local peer on a Unix socket, the daemon itself (its in-process
// liveness probe), or a client that TLS authenticated with a certificate
// (--tls-client-ca). Over plain TCP (--insecure-tcp) or TLS without a client
// certificate anyone who reaches the port could ask; they are refused.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_ADMIN_GUARD_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_ADMIN_GUARD_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace aoti_executor {

// OK if the caller of admin RPC `rpc` may make it; PermissionDenied saying
// why not otherwise. Relies on UnixGrpcListener: only it makes channels
// whose peer is "fd:N", and only for peers the policy allows.
absl::Status CheckAdminPeer(const grpc::ServerContext& context,
                            absl::string_view rpc);

// CheckAdminPeer as a grpc::Status, for the first line of an admin handler:
//   if (grpc::Status denied = DenyNonAdmin(*context, "GetStatus");
//       !denied.ok()) return denied;
grpc::Status DenyNonAdmin(const grpc::ServerContext& context,
                          absl::string_view rpc);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_ADMIN_GUARD_H_
