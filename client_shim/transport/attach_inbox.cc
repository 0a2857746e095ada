#include "client_shim/transport/attach_inbox.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace client {

template <typename T>
absl::StatusOr<T> AttachInbox::Take(std::map<uint64_t, T>* arrived, uint64_t id,
                                    absl::Time deadline,
                                    const std::string& what) {
  AOTI_RETURN_IF_ERROR(ReadUntil(
      [this, arrived, id] {
        absl::MutexLock lock(&mu_);
        return arrived->count(id) > 0;
      },
      deadline, what));
  absl::MutexLock lock(&mu_);
  auto it = arrived->find(id);
  T taken = std::move(it->second);
  arrived->erase(it);
  return taken;
}

absl::StatusOr<std::shared_ptr<SharedRegion>> AttachInbox::TakeCallLane(
    uint64_t lane_id, absl::Time deadline) {
  return Take(&lanes_, lane_id, deadline, absl::StrCat("call lane ", lane_id));
}

absl::StatusOr<ReceivedFrame> AttachInbox::TakeKernelSetJson(
    uint64_t kernel_set_id, absl::Time deadline) {
  return Take(&kernel_set_jsons_, kernel_set_id, deadline,
              absl::StrCat("the JSON of kernel set ", kernel_set_id));
}

absl::Status AttachInbox::ReadUntil(const std::function<bool()>& arrived,
                                    absl::Time deadline,
                                    const std::string& what) {
  std::unique_lock<std::timed_mutex> reading(read_mu_, std::defer_lock);
  if (!reading.try_lock_until(absl::ToChronoTime(deadline))) {
    return absl::DeadlineExceededError(absl::StrCat(
        "waiting for ", what, ": another call is reading the attach socket"));
  }
  // Another reader may have adopted it while this one waited.
  while (!arrived()) {
    absl::StatusOr<ReceivedFrame> received = socket_->Receive(deadline);
    if (!received.ok()) {
      return WithContext(received.status(),
                         absl::StrCat("waiting for ", what,
                                      " on attach socket ", socket_->path()));
    }
    AOTI_RETURN_IF_ERROR(Adopt(*std::move(received)));
  }
  return absl::OkStatus();
}

absl::Status AttachInbox::Adopt(ReceivedFrame received) {
  const AttachFrame& frame = received.frame;
  const bool known_type = frame.type == AttachFrameType::kCallLane ||
                          frame.type == AttachFrameType::kOutputRegion ||
                          frame.type == AttachFrameType::kKernelSetJson;
  if (!known_type || !received.fd.valid()) {
    return absl::InternalError(absl::StrCat(
        "attach socket ", socket_->path(),
        ": expected a kOutputRegion, kCallLane or kKernelSetJson frame "
        "with a memfd, got type ",
        static_cast<int>(frame.type),
        received.fd.valid() ? "" : " without one"));
  }
  if (frame.type == AttachFrameType::kKernelSetJson) {
    // The session asked for it (one per registration): no older one waits.
    const uint64_t id = frame.id;
    absl::MutexLock lock(&mu_);
    kernel_set_jsons_[id] = std::move(received);
    return absl::OkStatus();
  }
  const bool lane = frame.type == AttachFrameType::kCallLane;
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Adopt(std::move(received.fd), frame.size);
  if (!region.ok()) {
    return WithContext(
        region.status(),
        absl::StrCat(lane ? "mapping call lane " : "mapping output region ",
                     frame.id));
  }
  auto shared = std::make_shared<SharedRegion>(*std::move(region));
  if (!lane) {
    on_output_region_(frame.id, std::move(shared));
    return absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  // Lanes come in the order asked for: one older than this was never taken
  // (its OpenCallLane gave up) and never will be.
  lanes_.erase(lanes_.begin(), lanes_.lower_bound(frame.id));
  lanes_[frame.id] = std::move(shared);
  return absl::OkStatus();
}

}  // namespace client
}  // namespace aoti_executor
