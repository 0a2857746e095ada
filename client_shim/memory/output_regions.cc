#include "client_shim/memory/output_regions.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace client {

absl::optional<std::shared_ptr<SharedRegion>> OutputRegions::Mapped(
    uint64_t region_id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(region_id);
  if (it == by_id_.end()) return absl::nullopt;
  return it->second;
}

absl::StatusOr<std::shared_ptr<SharedRegion>> OutputRegions::Get(
    uint64_t region_id, absl::Time deadline) {
  if (auto region = Mapped(region_id)) return *std::move(region);
  AOTI_RETURN_IF_ERROR(ReadUntil(
      [this, region_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return by_id_.count(region_id) > 0;
      },
      deadline, absl::StrCat("output region ", region_id)));
  return *Mapped(region_id);
}

absl::StatusOr<std::shared_ptr<SharedRegion>> OutputRegions::TakeCallLane(
    uint64_t lane_id, absl::Time deadline) {
  AOTI_RETURN_IF_ERROR(ReadUntil(
      [this, lane_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return lanes_.count(lane_id) > 0;
      },
      deadline, absl::StrCat("call lane ", lane_id)));
  absl::MutexLock lock(&mu_);
  auto it = lanes_.find(lane_id);
  std::shared_ptr<SharedRegion> lane = std::move(it->second);
  lanes_.erase(it);
  return lane;
}

absl::Status OutputRegions::ReadUntil(const std::function<bool()>& arrived,
                                      absl::Time deadline,
                                      const std::string& what) {
  auto has_arrived = [this, &arrived] {
    absl::MutexLock lock(&mu_);
    return arrived();
  };
  std::unique_lock<std::timed_mutex> reading(read_mu_, std::defer_lock);
  if (!reading.try_lock_until(absl::ToChronoTime(deadline))) {
    return absl::DeadlineExceededError(absl::StrCat(
        "waiting for ", what, ": another call is reading the attach socket"));
  }
  // Another reader may have adopted it while this one waited.
  while (!has_arrived()) {
    absl::StatusOr<ReceivedFrame> received = socket_->Receive(deadline);
    if (!received.ok()) {
      return WithContext(received.status(),
                         absl::StrCat("waiting for ", what,
                                      " on attach socket ", socket_->path()));
    }
    AOTI_RETURN_IF_ERROR(Adopt(*received));
  }
  return absl::OkStatus();
}

absl::Status OutputRegions::Adopt(const ReceivedFrame& received) {
  const AttachFrame& frame = received.frame;
  if (frame.type == AttachFrameType::kCallLane && received.fd >= 0) {
    absl::StatusOr<SharedRegion> lane =
        SharedRegion::Adopt(received.fd, frame.size);
    if (!lane.ok()) {
      return WithContext(lane.status(),
                         absl::StrCat("mapping call lane ", frame.id));
    }
    absl::MutexLock lock(&mu_);
    // Lanes come in the order asked for: one older than this was never
    // taken (its OpenCallLane gave up) and never will be.
    lanes_.erase(lanes_.begin(), lanes_.lower_bound(frame.id));
    lanes_[frame.id] = std::make_shared<SharedRegion>(*std::move(lane));
    return absl::OkStatus();
  }
  if (frame.type != AttachFrameType::kOutputRegion || received.fd < 0) {
    if (received.fd >= 0) close(received.fd);
    return absl::InternalError(absl::StrCat(
        "attach socket ", socket_->path(),
        ": expected a kOutputRegion or kCallLane frame "
        "with a memfd, got type ",
        static_cast<int>(frame.type), received.fd < 0 ? " without one" : ""));
  }
  if (Mapped(frame.id).has_value()) {  // a repeat: keep the first mapping
    close(received.fd);
    return absl::OkStatus();
  }
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Adopt(received.fd, frame.size);
  if (!region.ok()) {
    return WithContext(region.status(),
                       absl::StrCat("mapping output region ", frame.id));
  }
  auto shared = std::make_shared<SharedRegion>(*std::move(region));
  absl::MutexLock lock(&mu_);
  by_address_[reinterpret_cast<uintptr_t>(shared->data())] = frame.id;
  by_id_[frame.id] = std::move(shared);
  return absl::OkStatus();
}

absl::optional<KnownRegion> OutputRegions::Find(const void* p,
                                                uint64_t n) const {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  absl::MutexLock lock(&mu_);
  auto it = by_address_.upper_bound(address);
  if (it == by_address_.begin()) return absl::nullopt;
  --it;
  const std::shared_ptr<SharedRegion>& region = by_id_.at(it->second);
  if (!region->Contains(p, n)) return absl::nullopt;
  return KnownRegion{it->second, region};
}

void OutputRegions::Forget(uint64_t region_id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(region_id);
  if (it == by_id_.end()) return;
  by_address_.erase(reinterpret_cast<uintptr_t>(it->second->data()));
  by_id_.erase(it);
}

size_t OutputRegions::size() const {
  absl::MutexLock lock(&mu_);
  return by_id_.size();
}

}  // namespace client
}  // namespace aoti_executor
