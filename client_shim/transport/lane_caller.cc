#include "client_shim/transport/lane_caller.h"

#include <utility>

#include "server/lane/futex.h"

namespace aoti_executor {
namespace client {

namespace v1 = ::aoti::executor::v1;
namespace wv1 = ::aoti::executor::worker::v1;

namespace {

// The longest a caller spins for its answer before it sleeps (SpinBudget
// learns how long answers take): a small op takes the worker a few
// microseconds, but after a long gap the worker sleeps, and waking it on
// the other CPU takes 40-60 us on our 2-vCPU VMs. Twice the worker's
// maximum, so that a call after a long gap costs that one wake-up and not
// a second one for the caller; the caller's thread has nothing else to do.
constexpr int64_t kSpinNs = 100000;

}  // namespace

LaneCaller::LaneCaller(CallLane lane, std::function<bool()> daemon_alive)
    : lane_(std::move(lane)),
      daemon_alive_(std::move(daemon_alive)),
      spin_(SpinBudget::MaxForThisMachine(kSpinNs)) {}

bool LaneCaller::Open() const { return !given_up_.load() && !lane_.closed(); }

absl::optional<absl::StatusOr<wv1::CallResult>> LaneCaller::TryCall(
    const v1::CallRequest& request, absl::Time deadline) {
  if (!mu_.TryLock()) return absl::nullopt;  // another thread's call is on it
  auto result = CallLocked(request, deadline);
  mu_.Unlock();
  return result;
}

absl::optional<absl::StatusOr<wv1::CallResult>> LaneCaller::CallLocked(
    const v1::CallRequest& request, absl::Time deadline) {
  if (given_up_ || !lane_.Usable()) return absl::nullopt;
  if (!request.SerializeToString(&buffer_) ||
      buffer_.size() > lane_.request_capacity()) {
    return absl::nullopt;
  }
  const int64_t deadline_ns = MonotonicDeadline(deadline);
  if (!lane_.Post(buffer_, deadline_ns).ok()) return absl::nullopt;
  absl::StatusOr<absl::optional<std::string>> answer =
      lane_.AwaitAnswer(deadline_ns, &spin_, daemon_alive_);
  if (!answer.ok()) {
    given_up_ = true;
    return absl::StatusOr<wv1::CallResult>(answer.status());
  }
  if (!answer->has_value()) return absl::nullopt;  // handed back, never ran
  wv1::CallResult result;
  if (!result.ParseFromString(**answer)) {
    return absl::StatusOr<wv1::CallResult>(
        absl::InternalError("the answer on the call lane does not parse"));
  }
  if (result.refused()) return absl::nullopt;  // gated: nothing ran
  return absl::StatusOr<wv1::CallResult>(std::move(result));
}

}  // namespace client
}  // namespace aoti_executor
