#include "server/service/session.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/daemon_stats.h"
#include "server/common/status_macros.h"
#include "server/framing/attach_frame.h"
#include "server/framing/fd_channel.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

Session::Session(std::string secret, UniqueFd attach_fd, PeerCredentials peer,
                 WorkerPool* workers,
                 std::shared_ptr<LaneCloserSlot> lane_closer)
    : secret_(std::move(secret)),
      attach_fd_(std::move(attach_fd)),
      peer_(std::move(peer)),
      workers_(workers),
      lane_closer_(std::move(lane_closer)) {}

Session::~Session() {
  std::shared_ptr<Worker> worker;
  {
    absl::MutexLock lock(&mu_);
    worker.swap(worker_);
  }
  worker.reset();  // stops and reaps the worker (its reader uses `this`)
}

absl::Status Session::AddPendingFd(uint64_t attach_id, UniqueFd fd,
                                   uint64_t size) {
  absl::MutexLock lock(&mu_);
  auto it = pending_fds_.find(attach_id);
  if (it != pending_fds_.end()) {
    // A client reusing an attach id before registering the first: keep the
    // newest, as the client's RegisterRegion will mean that one.
    it->second = AttachedFd{std::move(fd), size};
    return absl::OkStatus();
  }
  if (pending_fds_.size() >= kMaxPendingFds) {
    return absl::ResourceExhaustedError(
        absl::StrCat(pending_fds_.size(),
                     " memfds sent on the attach socket are waiting for "
                     "their RegisterRegion (the limit)"));
  }
  pending_fds_.emplace(attach_id, AttachedFd{std::move(fd), size});
  return absl::OkStatus();
}

absl::StatusOr<Session::AttachedFd> Session::TakeAttachedFd(
    uint64_t attach_id, absl::Time deadline) {
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
  AttachedFd attached = std::move(it->second);
  pending_fds_.erase(it);
  return attached;
}

absl::StatusOr<uint64_t> Session::RegisterClientRegion(uint64_t attach_id,
                                                       absl::Time deadline) {
  AOTI_ASSIGN_OR_RETURN(AttachedFd attached,
                        TakeAttachedFd(attach_id, deadline));
  AOTI_ASSIGN_OR_RETURN(
      SharedRegion adopted,
      SharedRegion::Adopt(std::move(attached.fd), attached.size));
  auto region = std::make_shared<SharedRegion>(std::move(adopted));

  absl::MutexLock worker_lock(&worker_mu_);
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    id = next_region_id_++;
  }
  AOTI_RETURN_IF_ERROR(regions_.Add(id, region));
  // A worker that fails here is replaced, with this region, at its next use.
  if (auto worker = current_worker()) {
    if (worker->MapRegion(id, *region).ok()) SyncIfLaneOpen(worker.get());
  }
  return id;
}

absl::Status Session::ReleaseClientRegion(uint64_t region_id) {
  absl::MutexLock worker_lock(&worker_mu_);
  if (!regions_.Remove(region_id)) {
    return absl::NotFoundError(
        absl::StrCat("no client region ", region_id, " in this session"));
  }
  if (auto worker = current_worker()) (void)worker->UnmapRegion(region_id);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SharedRegion>> Session::FindRegion(
    uint64_t region_id) const {
  return regions_.Find(region_id);
}

absl::Status Session::AddKernelSet(const KernelSetCache::Entry& entry) {
  absl::MutexLock worker_lock(&worker_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (!kernel_sets_.emplace(entry.id, entry).second) return absl::OkStatus();
  }
  if (auto worker = current_worker()) {
    if (worker->RegisterKernelSet(entry.id, *entry.image).ok()) {
      SyncIfLaneOpen(worker.get());
    }
  }
  return absl::OkStatus();
}

void Session::SyncIfLaneOpen(Worker* worker) {
  // Parsing a large kernel set takes the worker tens of milliseconds.
  constexpr absl::Duration kSyncTimeout = absl::Seconds(30);
  if (worker->lanes().empty()) return;
  // A worker that dies meanwhile is replaced with everything replayed.
  if (absl::Status synced = worker->Sync(absl::Now() + kSyncTimeout);
      !synced.ok()) {
    spdlog::warn("session of pid {}: {}", peer_.pid, synced.ToString());
  }
}

absl::StatusOr<Session::OpenedLane> Session::OpenCallLane(size_t max_lanes) {
  OpenedLane opened;
  // Never starts a worker: that takes a while, and the call that asked may
  // be one that must fail fast (a quarantined node). The Call RPC starts
  // one; the client asks for its lane again after.
  opened.worker = current_worker();
  if (opened.worker == nullptr || !opened.worker->death().ok()) {
    return absl::UnavailableError(
        "the session has no live worker now; its next call starts one");
  }
  for (Worker::Lane* old : opened.worker->lanes()) {
    if (old->closed.load() || old->lane.state() == CallLane::kAbandoned) {
      // The client gave a call on this lane up (the lane watchdog is about
      // to kill the worker, whose op may still run): replace the worker now,
      // rather than hand out a lane that will die with it.
      opened.worker->Kill("its client gave up a call on its call lane");
      return absl::UnavailableError(
          "the session's worker is being replaced; its next call starts one");
    }
  }
  AOTI_ASSIGN_OR_RETURN(opened.lane, opened.worker->AddLane(max_lanes));
  const SharedRegion& region = *opened.lane->lane.region();
  {
    absl::MutexLock lock(&mu_);
    opened.lane_id = next_lane_id_++;
  }
  opened.byte_size = region.size();
  AttachFrame frame;
  frame.type = AttachFrameType::kCallLane;
  frame.id = opened.lane_id;
  frame.size = opened.byte_size;
  absl::MutexLock lock(&send_mu_);
  AOTI_RETURN_IF_ERROR(
      WithContext(SendFrame(attach_fd_.get(), frame, region.fd()),
                  "sending the call lane"));
  return opened;
}

absl::Status Session::SendKernelSetJson(uint64_t kernel_set_id,
                                        const KernelSetImage& image) {
  AttachFrame frame;
  frame.type = AttachFrameType::kKernelSetJson;
  frame.id = kernel_set_id;
  frame.size = image.json().size();
  absl::MutexLock lock(&send_mu_);
  return WithContext(SendFrame(attach_fd_.get(), frame, image.fd()),
                     "sending the kernel set's JSON");
}

void Session::FoldLaneCounts() {
  absl::MutexLock lock(&mu_);
  if (worker_ != nullptr) worker_->FoldLaneCounts();
}

std::vector<std::string> Session::KernelSetHashes() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> hashes;
  for (const auto& [id, entry] : kernel_sets_) {
    hashes.push_back(entry.content_hash);
  }
  return hashes;
}

absl::StatusOr<KernelSetCache::Entry> Session::FindKernelSet(
    uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = kernel_sets_.find(id);
  if (it == kernel_sets_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kernel set ", id, " is not registered in this session"));
  }
  return it->second;
}

std::shared_ptr<Worker> Session::current_worker() const {
  absl::MutexLock lock(&mu_);
  return worker_;
}

absl::StatusOr<std::shared_ptr<Worker>> Session::EnsureWorker() {
  if (auto worker = current_worker();
      worker != nullptr && worker->death().ok()) {
    return worker;  // the common case: no lock held across calls
  }
  absl::MutexLock worker_lock(&worker_mu_);
  if (auto worker = current_worker();
      worker != nullptr && worker->death().ok()) {
    return worker;  // another call replaced it meanwhile
  }
  return StartWorker();
}

absl::StatusOr<std::shared_ptr<Worker>> Session::StartWorker() {
  uint64_t region_id_base;
  bool restart;
  {
    absl::MutexLock lock(&mu_);
    restart = worker_ != nullptr;
    // Each worker numbers its output regions in a range of its own: above
    // every client region id, and apart from the ranges of earlier workers.
    region_id_base = (uint64_t{1} << 63) | (uint64_t{++generation_} << 32);
  }
  AOTI_ASSIGN_OR_RETURN(std::unique_ptr<Worker> started, workers_->Take());
  AOTI_RETURN_IF_ERROR(started->AssignSession(
      region_id_base,
      [this](uint64_t id, uint64_t size, UniqueFd fd) {
        ForwardOutputRegion(id, size, std::move(fd));
      },
      [this](uint64_t id) {
        absl::MutexLock lock(&mu_);
        worker_output_regions_.erase(id);
      },
      [this](Worker* ended) {
        // Also while the session ends (its destructor stops the worker):
        // the members used here live until the destructor's body is done.
        if (lane_closer_ != nullptr) lane_closer_->Close(*this, *ended);
      }));
  std::shared_ptr<Worker> worker(std::move(started));
  std::shared_ptr<Worker> replaced;
  {
    absl::MutexLock lock(&mu_);
    absl::Status replayed;
    for (const auto& [id, entry] : kernel_sets_) {
      if (replayed.ok()) {
        replayed = worker->RegisterKernelSet(id, *entry.image);
      }
    }
    for (const auto& [id, region] : regions_.Snapshot()) {
      if (replayed.ok()) replayed = worker->MapRegion(id, *region);
    }
    if (!replayed.ok()) return WithContext(replayed, "starting a worker");
    // Nothing will be allocated in a dead worker's regions again.
    for (const auto& [id, bytes] : worker_output_regions_) {
      retired_regions_.push_back(id);
    }
    worker_output_regions_.clear();
    // Status sums the current worker's lane calls: count the old one's in
    // the totals as it stops being current.
    if (worker_ != nullptr) worker_->FoldLaneCounts();
    replaced = std::move(worker_);
    worker_ = worker;
  }
  // Outside mu_: its destructor joins its reader, which may need mu_.
  replaced.reset();
  if (restart) {
    DaemonStats::Add(workers_->options().stats->worker_restarts);
    spdlog::warn("session of pid {}: worker replaced by pid {}", peer_.pid,
                 worker->pid());
  }
  return worker;
}

void Session::ForwardOutputRegion(uint64_t region_id, uint64_t byte_size,
                                  UniqueFd fd) {
  AttachFrame frame;
  frame.type = AttachFrameType::kOutputRegion;
  frame.id = region_id;
  frame.size = byte_size;
  absl::Status sent;
  {
    absl::MutexLock lock(&send_mu_);
    sent = SendFrame(attach_fd_.get(), frame, fd.get());
  }
  if (!sent.ok()) {
    spdlog::debug("session of pid {}: {}", peer_.pid, sent.ToString());
    return;
  }
  absl::MutexLock lock(&mu_);
  worker_output_regions_[region_id] = byte_size;
}

void Session::ForgetOutputRegions(
    const google::protobuf::RepeatedField<uint64_t>& ids) {
  absl::MutexLock lock(&mu_);
  for (uint64_t id : ids) worker_output_regions_.erase(id);
}

std::vector<uint64_t> Session::TakeRetiredRegions() {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> retired;
  retired.swap(retired_regions_);
  return retired;
}

size_t Session::region_count() const {
  absl::MutexLock lock(&mu_);
  return regions_.size() + worker_output_regions_.size();
}

uint64_t Session::mapped_bytes() const {
  absl::MutexLock lock(&mu_);
  uint64_t total = regions_.total_bytes();
  for (const auto& [id, bytes] : worker_output_regions_) total += bytes;
  return total;
}

bool Session::worker_running() const {
  auto worker = current_worker();
  return worker != nullptr && worker->death().ok();
}

uint64_t Session::output_bytes_copied() const {
  auto worker = current_worker();
  return worker != nullptr ? worker->output_bytes_copied() : 0;
}

uint64_t Session::output_bytes_in_use() const {
  auto worker = current_worker();
  return worker != nullptr && worker->death().ok()
             ? worker->output_bytes_in_use()
             : 0;
}

}  // namespace aoti_executor
