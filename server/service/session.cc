#include "server/service/session.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/shm/attach_frame.h"
#include "server/shm/fd_channel.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

Session::Session(std::string secret, int attach_fd, PeerCredentials peer,
                 const WorkerOptions* worker_options)
    : secret_(std::move(secret)),
      attach_fd_(attach_fd),
      peer_(peer),
      worker_options_(worker_options) {}

Session::~Session() {
  {
    absl::MutexLock lock(&worker_mu_);
    worker_.reset();  // kills and reaps the worker (its reader uses `this`)
  }
  absl::MutexLock lock(&mu_);
  for (auto& [id, pending] : pending_fds_) close(pending.fd);
  close(attach_fd_);
}

void Session::AddPendingFd(uint64_t attach_id, int fd, uint64_t size) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = pending_fds_.emplace(attach_id, PendingFd{fd, size});
  if (!inserted) {
    // A client reusing an attach id before registering the first: keep the
    // newest, as the client's RegisterRegion will mean that one.
    close(it->second.fd);
    it->second = PendingFd{fd, size};
  }
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
  AOTI_ASSIGN_OR_RETURN(SharedRegion adopted,
                        SharedRegion::Adopt(pending.fd, pending.size));
  auto region = std::make_shared<SharedRegion>(std::move(adopted));

  absl::MutexLock worker_lock(&worker_mu_);
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (regions_.size() >= kMaxRegions) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the session already holds ", regions_.size(), " regions (the limit)"));
    }
    id = next_region_id_++;
    regions_.emplace(id, region);
  }
  // A worker that fails here is replaced, with this region, at its next use.
  if (worker_ != nullptr) (void)worker_->MapRegion(id, *region);
  return id;
}

absl::Status Session::ReleaseClientRegion(uint64_t region_id) {
  absl::MutexLock worker_lock(&worker_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (regions_.erase(region_id) == 0) {
      return absl::NotFoundError(
          absl::StrCat("no client region ", region_id, " in this session"));
    }
  }
  if (worker_ != nullptr) (void)worker_->UnmapRegion(region_id);
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
  return it->second;
}

absl::Status Session::AddKernelSet(const KernelSetCache::Entry& entry) {
  absl::MutexLock worker_lock(&worker_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (!kernel_sets_.emplace(entry.id, entry).second) return absl::OkStatus();
  }
  if (worker_ != nullptr) {
    (void)worker_->RegisterKernelSet(entry.id, entry.device, *entry.json);
  }
  return absl::OkStatus();
}

absl::StatusOr<KernelSetCache::Entry> Session::FindKernelSet(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = kernel_sets_.find(id);
  if (it == kernel_sets_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "kernel set ", id, " is not registered in this session"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<Worker>> Session::EnsureWorker() {
  absl::MutexLock worker_lock(&worker_mu_);
  if (worker_ != nullptr && worker_->death().ok()) return worker_;
  return StartWorker();
}

absl::StatusOr<std::shared_ptr<Worker>> Session::StartWorker() {
  const bool restart = worker_ != nullptr;
  // Each worker numbers its output regions in a range of its own: above
  // every client region id, and apart from the ranges of earlier workers.
  const uint64_t region_id_base = (uint64_t{1} << 63) | (uint64_t{++generation_} << 32);
  AOTI_ASSIGN_OR_RETURN(
      std::unique_ptr<Worker> started,
      Worker::Start(*worker_options_, region_id_base,
                    [this](uint64_t id, uint64_t size, int fd) {
                      ForwardOutputRegion(id, size, fd);
                    }));
  std::shared_ptr<Worker> worker(std::move(started));
  absl::MutexLock lock(&mu_);
  for (const auto& [id, entry] : kernel_sets_) {
    AOTI_RETURN_IF_ERROR(worker->RegisterKernelSet(id, entry.device, *entry.json));
  }
  for (const auto& [id, region] : regions_) {
    AOTI_RETURN_IF_ERROR(worker->MapRegion(id, *region));
  }
  // Nothing will be allocated in a dead worker's regions again.
  retired_regions_.insert(retired_regions_.end(), worker_output_regions_.begin(),
                          worker_output_regions_.end());
  worker_output_regions_.clear();
  worker_ = worker;
  if (restart) {
    spdlog::warn("session of pid {}: worker replaced by pid {}", peer_.pid, worker->pid());
  }
  return worker;
}

void Session::ForwardOutputRegion(uint64_t region_id, uint64_t byte_size, int fd) {
  AttachFrame frame;
  frame.type = AttachFrameType::kOutputRegion;
  frame.id = region_id;
  frame.size = byte_size;
  absl::Status sent;
  {
    absl::MutexLock lock(&send_mu_);
    sent = SendFrame(attach_fd_, frame, fd);
  }
  close(fd);
  if (!sent.ok()) {
    spdlog::debug("session of pid {}: {}", peer_.pid, sent.ToString());
    return;
  }
  absl::MutexLock lock(&mu_);
  worker_output_regions_.push_back(region_id);
}

std::vector<uint64_t> Session::TakeRetiredRegions() {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> retired;
  retired.swap(retired_regions_);
  return retired;
}

size_t Session::region_count() const {
  absl::MutexLock lock(&mu_);
  return regions_.size();
}

uint64_t Session::mapped_bytes() const {
  absl::MutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& [id, region] : regions_) total += region->size();
  return total;
}

bool Session::worker_running() const {
  absl::MutexLock lock(&worker_mu_);
  return worker_ != nullptr && worker_->death().ok();
}

int Session::worker_restarts() const {
  absl::MutexLock lock(&worker_mu_);
  return generation_ > 1 ? static_cast<int>(generation_ - 1) : 0;
}

}  // namespace aoti_executor
