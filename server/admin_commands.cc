#include "server/admin_commands.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/executor.grpc.pb.h"
#include "server/common/endpoint.h"
#include "server/common/status_macros.h"
#include "server/common/transport_security.h"

namespace aoti_executor {
namespace {

namespace v1 = aoti::executor::v1;

// A stub for the daemon at `listen`; over TCP with TLS from the shim's
// variables ($AOTI_EXECUTOR_TLS_CA, _CERT, _KEY: admin calls over TCP need a
// client certificate).
absl::StatusOr<std::unique_ptr<v1::Executor::Stub>> Connect(
    const std::string& listen) {
  AOTI_ASSIGN_OR_RETURN(Endpoint endpoint, ParseEndpoint(listen));
  AOTI_ASSIGN_OR_RETURN(endpoint, WithClientTls(std::move(endpoint)));
  return v1::Executor::NewStub(
      CreateChannelTo(endpoint, grpc::ChannelArguments()));
}

// The RPC's own code (PERMISSION_DENIED says the caller may not ask).
absl::Status RpcError(const std::string& listen, const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(listen, ": ", status.error_message()));
}

}  // namespace

absl::StatusOr<std::string> FetchStatusText(const std::string& listen) {
  auto stub = Connect(listen);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::GetStatusResponse status;
  const grpc::Status rpc =
      (*stub)->GetStatus(&context, v1::GetStatusRequest(), &status);
  if (!rpc.ok()) return RpcError(listen, rpc);
  std::string text = absl::StrCat(
      "aoti-executord ", status.daemon_version(), ", up ",
      status.uptime_seconds(), " s\n  sessions ", status.sessions(),
      ", kernel sets ", status.kernel_sets(), ", workers ", status.workers(),
      " (", status.worker_restarts(), " restarts), spare workers ",
      status.spare_workers(), "\n  calls: ", status.calls_succeeded(),
      " succeeded, ", status.calls_failed(), " failed, ",
      status.calls_in_flight(), " in flight; ", status.lane_calls(),
      " of them over call lanes (", status.call_lanes(), " open)\n  regions ",
      status.regions(), " (", status.mapped_bytes(),
      " bytes mapped)\n  peers refused ", status.peers_refused(),
      " (--allow-uid/--allow-gid)\n");
  for (const v1::NodeCrashes& node : status.crashed_nodes()) {
    absl::StrAppend(
        &text, "  ", node.quarantined() ? "QUARANTINED " : "crashed ",
        node.description(), " of kernel set ",
        node.kernel_set_hash().substr(0, 12), ": ", node.crashes_in_window(),
        " in window; last: ", node.last_error(), "\n");
  }
  return text;
}

absl::StatusOr<int> ClearQuarantine(const std::string& listen) {
  auto stub = Connect(listen);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::ClearQuarantineResponse response;
  const grpc::Status rpc = (*stub)->ClearQuarantine(
      &context, v1::ClearQuarantineRequest(), &response);
  if (!rpc.ok()) return RpcError(listen, rpc);
  return response.cleared();
}

}  // namespace aoti_executor
