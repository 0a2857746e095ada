// How a call travels from the shim to its session's worker. Two ways:
// RpcTransport, the Call RPC through the daemon, which always takes a call;
// and LaneTransport, the session's call lanes, straight to the worker through
// shared memory, which takes a call only when a lane is free. The session
// offers each call to the lanes first, then to the RPC.
//
// Whichever carried it, a call's answer and its errors read the same: the
// daemon's CallResponse, or a status with the Call RPC's code and wording.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_CALL_TRANSPORT_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_CALL_TRANSPORT_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "proto/executor.pb.h"

namespace aoti_executor {
namespace client {

class CallTransport {
 public:
  virtual ~CallTransport() = default;

  // The answer to `request` by `deadline`; nullopt if this transport did not
  // take the call, in which case nothing ran and another may carry it.
  // Thread-safe.
  virtual absl::optional<absl::StatusOr<aoti::executor::v1::CallResponse>>
  TryCall(const aoti::executor::v1::CallRequest& request,
          absl::Time deadline) = 0;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_CALL_TRANSPORT_H_
