// The client's end of its session's call lane (server/lane/call_lane.h): a
// call goes straight to the worker through shared memory, with no gRPC and
// no daemon thread on the way.
//
// One call at a time: a caller that finds the lane busy with another
// thread's call, gated by the daemon (a quarantine), closed, or too small
// for its request is told so at once and takes the Call RPC instead, so
// threads never queue behind each other here.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_LANE_CALLER_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_LANE_CALLER_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "proto/executor.pb.h"
#include "proto/worker.pb.h"
#include "server/lane/call_lane.h"
#include "server/lane/spin_budget.h"

namespace aoti_executor {
namespace client {

class LaneCaller {
 public:
  // `daemon_alive` says whether the daemon is still there (the session's
  // attach socket is open); asked while a call waits long.
  LaneCaller(CallLane lane, std::function<bool()> daemon_alive);

  // The worker's CallResult for `request`; nullopt if the lane did not take
  // the call (nothing ran: send it by RPC). DeadlineExceeded if no answer
  // came by `deadline` (the lane is then done for). Thread-safe.
  absl::optional<absl::StatusOr<aoti::executor::worker::v1::CallResult>>
  TryCall(const aoti::executor::v1::CallRequest& request, absl::Time deadline);

  // False once the daemon closed the lane (its worker is gone) or a call on
  // it was given up: the session needs a new lane. Never blocks.
  bool Open() const;

 private:
  absl::optional<absl::StatusOr<aoti::executor::worker::v1::CallResult>>
  CallLocked(const aoti::executor::v1::CallRequest& request,
             absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  CallLane lane_;
  const std::function<bool()> daemon_alive_;
  mutable absl::Mutex mu_;  // held for a call's whole round trip
  SpinBudget spin_ ABSL_GUARDED_BY(mu_);
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> given_up_{false};
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_LANE_CALLER_H_
