#include "client_shim/transport/rpc_transport.h"

#include "client_shim/transport/rpc_error.h"

namespace aoti_executor {
namespace client {

namespace v1 = ::aoti::executor::v1;

absl::optional<absl::StatusOr<v1::CallResponse>> RpcTransport::TryCall(
    const v1::CallRequest& request, absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  v1::CallResponse response;
  const grpc::Status status = stub_->Call(&context, request, &response);
  if (!status.ok()) return RpcError(*endpoint_, "Call", status);
  return response;
}

}  // namespace client
}  // namespace aoti_executor
