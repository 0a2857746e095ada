// A failed RPC to aoti-executord as an absl::Status: the same code, and a
// message that names the daemon's endpoint and the RPC. One wording for every
// RPC the shim makes and for calls that came back over a call lane.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_RPC_ERROR_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_RPC_ERROR_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/common/endpoint.h"

namespace aoti_executor {
namespace client {

absl::Status RpcError(const Endpoint& endpoint, absl::string_view rpc,
                      const grpc::Status& status);

// The same for a status that did not come from gRPC (a lane's answer).
absl::Status RpcError(const Endpoint& endpoint, absl::string_view rpc,
                      const absl::Status& status);

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_RPC_ERROR_H_
