// A session's call lanes as a CallTransport: straight to the worker through
// shared memory, with no gRPC and no daemon thread on the way.
//
// The session starts with one lane; a call that finds every lane busy with
// another thread's call opens one more, until the daemon allows no more
// (--call-lanes), and then does not take the call (the Call RPC carries it),
// so host threads never queue behind each other. The lanes belong to one
// worker: when it is gone they are all closed, and the next call (or
// Reopen) opens a first lane of the new one.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_LANE_TRANSPORT_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_LANE_TRANSPORT_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "client_shim/transport/call_transport.h"
#include "client_shim/transport/lane_caller.h"
#include "server/common/endpoint.h"

namespace aoti_executor {
namespace client {

class LaneTransport final : public CallTransport {
 public:
  // Opens one more lane of the session's worker. FailedPrecondition or
  // Unimplemented: the daemon offers no lanes at all; other errors: none
  // now (the most it allows, or its worker is going).
  using Opener = std::function<absl::StatusOr<std::shared_ptr<LaneCaller>>(
      absl::Time deadline)>;

  // With `enabled` false it never takes a call. `endpoint` (named in errors)
  // must outlive this object.
  LaneTransport(Opener open, bool enabled, const Endpoint* endpoint);

  // Nullopt when no lane is open and none can be opened, or every lane is
  // busy and no more may be opened. Thread-safe.
  absl::optional<absl::StatusOr<aoti::executor::v1::CallResponse>> TryCall(
      const aoti::executor::v1::CallRequest& request,
      absl::Time deadline) override;

  // Opens a first lane if none is open: at session start, and after a call
  // by RPC that replaced a dead worker, for the calls to come. A failure is
  // no error: calls take the RPC and try again.
  void Reopen(absl::Time deadline) { (void)Lanes(deadline); }

  // Takes `lane`, opened by other means (with the registration), as the
  // first lane, if no lane is open.
  void Adopt(std::shared_ptr<LaneCaller> lane);

  // Lanes open now.
  size_t count() const;

 private:
  // One call at a time on each lane; the set only grows, while its worker
  // lives, and is replaced whole when that worker is gone.
  using LaneSet = std::vector<std::shared_ptr<LaneCaller>>;

  // The open lanes, opening a first one if there are none (nullptr if the
  // daemon offers none, or another thread is opening one).
  std::shared_ptr<const LaneSet> Lanes(absl::Time deadline);
  // One more lane, added to `seen` if that is still the current set; nullptr
  // if the daemon allows no more (or another thread is adding one).
  std::shared_ptr<LaneCaller> AddLane(
      absl::Time deadline, const std::shared_ptr<const LaneSet>& seen);
  // A lane's CallResult as the Call RPC's answer or error.
  absl::StatusOr<aoti::executor::v1::CallResponse> FromLane(
      absl::StatusOr<aoti::executor::worker::v1::CallResult> answered) const;

  const Opener open_;
  const Endpoint* const endpoint_;
  mutable absl::Mutex mu_;
  bool enabled_ ABSL_GUARDED_BY(mu_);
  bool opening_ ABSL_GUARDED_BY(mu_) = false;
  bool full_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const LaneSet> lanes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_TRANSPORT_LANE_TRANSPORT_H_
