// The Call RPC as a CallTransport: through the daemon, which forwards the
// call to the session's worker (and starts a new one if the old one died).
// It takes every call; it is what a call falls back on when no lane is free.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_RPC_TRANSPORT_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_RPC_TRANSPORT_H_

#include "client_shim/transport/call_transport.h"
#include "proto/executor.grpc.pb.h"
#include "server/common/endpoint.h"

namespace aoti_executor {
namespace client {

class RpcTransport final : public CallTransport {
 public:
  // `stub` and `endpoint` (named in errors) must outlive this object.
  RpcTransport(aoti::executor::v1::Executor::Stub* stub,
               const Endpoint* endpoint)
      : stub_(stub), endpoint_(endpoint) {}

  // Never nullopt.
  absl::optional<absl::StatusOr<aoti::executor::v1::CallResponse>> TryCall(
      const aoti::executor::v1::CallRequest& request,
      absl::Time deadline) override;

 private:
  aoti::executor::v1::Executor::Stub* const stub_;
  const Endpoint* const endpoint_;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_RPC_TRANSPORT_H_
