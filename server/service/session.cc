#include "server/service/session.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/shm/attach_frame.h"
#include "server/shm/fd_channel.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

Session::Session(std::string secret, int attach_fd, PeerCredentials peer)
    : secret_(std::move(secret)),
      attach_fd_(attach_fd),
      peer_(peer),
      outputs_(
          [this](std::shared_ptr<SharedRegion> region) {
            return PublishOutputRegion(std::move(region));
          },
          [this](uint64_t region_id) { RetireOutputRegion(region_id); }) {}

Session::~Session() {
  absl::MutexLock lock(&mu_);
  for (auto& [id, pending] : pending_fds_) close(pending.fd);
  close(attach_fd_);
}

absl::Status Session::AddPendingFd(uint64_t attach_id, int fd, uint64_t size) {
  absl::MutexLock lock(&mu_);
  auto it = pending_fds_.find(attach_id);
  if (it != pending_fds_.end()) {
    // A client reusing an attach id before registering the first: keep the
    // newest, as the client's RegisterRegion will mean that one.
    close(it->second.fd);
    it->second = PendingFd{fd, size};
    return absl::OkStatus();
  }
  if (pending_fds_.size() >= kMaxPendingFds) {
    close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat(pending_fds_.size(),
                     " memfds sent on the attach socket are waiting for "
                     "their RegisterRegion (the limit)"));
  }
  pending_fds_.emplace(attach_id, PendingFd{fd, size});
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Session::RegisterClientRegion(uint64_t attach_id,
                                                       absl::Time deadline) {
  PendingFd pending{-1, 0};
  {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, attach_id]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return pending_fds_.count(attach_id) > 0;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&arrived), deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no memfd with attach id ", attach_id,
          " arrived on the attach socket; send the kClientRegion frame first"));
    }
    auto it = pending_fds_.find(attach_id);
    pending = it->second;
    pending_fds_.erase(it);
  }
  AOTI_ASSIGN_OR_RETURN(SharedRegion region,
                        SharedRegion::Adopt(pending.fd, pending.size));
  return AddRegion(std::make_shared<SharedRegion>(std::move(region)),
                   /*is_output=*/false);
}

absl::StatusOr<uint64_t> Session::AddRegion(
    std::shared_ptr<SharedRegion> region, bool is_output) {
  absl::MutexLock lock(&mu_);
  if (regions_.size() >= kMaxRegions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the session already holds ", regions_.size(), " regions (the limit)"));
  }
  const uint64_t id = next_region_id_++;
  regions_.emplace(id, RegionEntry{std::move(region), is_output});
  return id;
}

absl::Status Session::ReleaseClientRegion(uint64_t region_id) {
  absl::MutexLock lock(&mu_);
  auto it = regions_.find(region_id);
  if (it == regions_.end() || it->second.is_output) {
    return absl::NotFoundError(
        absl::StrCat("no client region ", region_id, " in this session"));
  }
  regions_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SharedRegion>> Session::FindRegion(
    uint64_t region_id) const {
  absl::MutexLock lock(&mu_);
  auto it = regions_.find(region_id);
  if (it == regions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no region ", region_id, " in this session"));
  }
  return it->second.region;
}

std::shared_ptr<SharedRegion> Session::FindRegionContaining(
    const void* p, uint64_t n, uint64_t* region_id) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, entry] : regions_) {
    if (entry.region->Contains(p, n)) {
      *region_id = id;
      return entry.region;
    }
  }
  return nullptr;
}

void Session::AddKernelSet(uint64_t id, std::shared_ptr<const KernelSet> set) {
  absl::MutexLock lock(&mu_);
  kernel_sets_[id] = std::move(set);
}

absl::StatusOr<std::shared_ptr<const KernelSet>> Session::FindKernelSet(
    uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = kernel_sets_.find(id);
  if (it == kernel_sets_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kernel set ", id, " is not registered in this session"));
  }
  return it->second;
}

size_t Session::region_count() const {
  absl::MutexLock lock(&mu_);
  return regions_.size();
}

uint64_t Session::mapped_bytes() const {
  absl::MutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& [id, entry] : regions_) total += entry.region->size();
  return total;
}

absl::StatusOr<uint64_t> Session::PublishOutputRegion(
    std::shared_ptr<SharedRegion> region) {
  const int fd = region->fd();
  const uint64_t size = region->size();
  AOTI_ASSIGN_OR_RETURN(uint64_t id, AddRegion(std::move(region), true));
  AttachFrame frame;
  frame.type = AttachFrameType::kOutputRegion;
  frame.id = id;
  frame.size = size;
  absl::Status sent;
  {
    absl::MutexLock lock(&send_mu_);
    sent = SendFrame(attach_fd_, frame, fd);
  }
  if (!sent.ok()) {
    absl::MutexLock lock(&mu_);
    regions_.erase(id);
    return WithContext(sent, "sending an output region to the client");
  }
  return id;
}

void Session::RetireOutputRegion(uint64_t region_id) {
  absl::MutexLock lock(&mu_);
  if (regions_.erase(region_id) > 0) retired_regions_.push_back(region_id);
}

std::vector<uint64_t> Session::TakeRetiredRegions() {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> retired;
  retired.swap(retired_regions_);
  return retired;
}

}  // namespace aoti_executor
