#include "client_shim/transport/rpc_error.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace client {

absl::Status RpcError(const Endpoint& endpoint, absl::string_view rpc,
                      const absl::Status& status) {
  const std::string where =
      absl::StrCat("aoti-executord at ", endpoint.ToString());
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return absl::UnavailableError(absl::StrCat(where, " is unavailable (",
                                                 rpc, "): ", status.message()));
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(absl::StrCat(
          rpc, " to ", where, " missed its deadline: ", status.message()));
    default:
      return absl::Status(status.code(), absl::StrCat(where, " (", rpc,
                                                      "): ", status.message()));
  }
}

absl::Status RpcError(const Endpoint& endpoint, absl::string_view rpc,
                      const grpc::Status& status) {
  // gRPC's codes are absl's.
  return RpcError(
      endpoint, rpc,
      absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                   status.error_message()));
}

}  // namespace client
}  // namespace aoti_executor
