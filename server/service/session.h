// One client's session: its secret, its attach-socket connection, the
// regions it shares with the daemon, its kernel sets, and the worker process
// that runs its calls.
//
// A session lives as long as its attach-socket connection; calls in flight
// hold a shared_ptr, so a session that ends mid-call is freed after it.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_SESSION_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_SESSION_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/unique_fd.h"
#include "server/service/kernel_set_cache.h"
#include "server/service/peer_policy.h"
#include "server/shm/region_table.h"
#include "server/shm/shared_region.h"
#include "server/workers/worker.h"
#include "server/workers/worker_pool.h"

namespace aoti_executor {

class Session;

// Where the call lanes of a session's ended workers are closed: the lane
// watchdog's LaneWatchdog::CloseLane while the service lives, nothing
// otherwise (~Worker then closes a lane with a generic reason). Called on
// the worker's reader thread; Set waits for a call in progress.
class LaneCloserSlot {
 public:
  using Closer =
      std::function<void(const Session& session, const Worker& worker)>;
  void Set(Closer closer) {
    absl::MutexLock lock(&mu_);
    closer_ = std::move(closer);
  }
  void Close(const Session& session, const Worker& worker) {
    absl::MutexLock lock(&mu_);
    if (closer_) closer_(session, worker);
  }

 private:
  absl::Mutex mu_;
  Closer closer_ ABSL_GUARDED_BY(mu_);
};

class Session {
 public:
  // Most memfds a session may have sent and not registered yet. The shim has
  // at most one per call in flight; each holds an fd of the daemon.
  static constexpr size_t kMaxPendingFds = 256;

  // `attach_fd`: the connected attach socket. `workers` (where the
  // session's worker comes from) must outlive the session.
  // `lane_closer` (may be null) closes the lanes of its ended workers.
  Session(std::string secret, UniqueFd attach_fd, PeerCredentials peer,
          WorkerPool* workers,
          std::shared_ptr<class LaneCloserSlot> lane_closer = nullptr);
  ~Session();  // stops the worker, closes the attach socket
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& secret() const { return secret_; }
  const PeerCredentials& peer() const { return peer_; }
  int attach_fd() const { return attach_fd_.get(); }

  // A memfd that arrived on the attach socket as kClientRegion, waiting for
  // its RegisterRegion. ResourceExhausted (and `fd` closed) if
  // kMaxPendingFds are already waiting: the client is flooding the daemon
  // with fds, and its session should end.
  absl::Status AddPendingFd(uint64_t attach_id, UniqueFd fd, uint64_t size);
  // A memfd as it arrived on the attach socket, with the size its frame gave.
  struct AttachedFd {
    UniqueFd fd;
    uint64_t size;
  };
  // The memfd sent with `attach_id`, waited for until `deadline`. What it
  // holds is said by the RPC that names the id.
  absl::StatusOr<AttachedFd> TakeAttachedFd(uint64_t attach_id,
                                            absl::Time deadline);
  // Maps the memfd sent with `attach_id` (waiting for it until `deadline`),
  // shares it with the worker, and returns the new region's id.
  absl::StatusOr<uint64_t> RegisterClientRegion(uint64_t attach_id,
                                                absl::Time deadline);
  // Drops a client region; calls in flight keep their mapping.
  absl::Status ReleaseClientRegion(uint64_t region_id);
  absl::StatusOr<std::shared_ptr<SharedRegion>> FindRegion(
      uint64_t region_id) const;

  // Sends `image` (the sealed memfd of kernel set `kernel_set_id`) to the
  // client in a kKernelSetJson frame: the JSON it proved it has, to keep.
  absl::Status SendKernelSetJson(uint64_t kernel_set_id,
                                 const KernelSetImage& image);

  // Kernel sets this session registered, by id; each goes to the worker too.
  absl::Status AddKernelSet(const KernelSetCache::Entry& entry);
  absl::StatusOr<KernelSetCache::Entry> FindKernelSet(uint64_t id) const;

  // The session's worker: started on first use, and started afresh (with
  // every kernel set and region of the session sent again) after one died.
  absl::StatusOr<std::shared_ptr<Worker>> EnsureWorker();
  // The current worker, if any (alive or not).
  std::shared_ptr<Worker> current_worker() const;

  // A new call lane of the current worker, sent to the client in a
  // kCallLane frame with a new lane id. Unavailable if the session has no
  // live worker (its next Call starts one); ResourceExhausted if the worker
  // has `max_lanes` already.
  struct OpenedLane {
    uint64_t lane_id = 0;
    uint64_t byte_size = 0;
    Worker::Lane* lane = nullptr;  // lives as long as `worker`
    std::shared_ptr<Worker> worker;
  };
  absl::StatusOr<OpenedLane> OpenCallLane(size_t max_lanes);
  // Moves the current worker's lane call counts into the daemon's totals
  // (see Worker::FoldLaneCounts), as the session leaves the registry.
  void FoldLaneCounts();
  // Content hashes of the session's kernel sets.
  std::vector<std::string> KernelSetHashes() const;

  // Output regions the client should forget (their worker died, so nothing
  // will be allocated in them again); clears.
  std::vector<uint64_t> TakeRetiredRegions();
  // The worker dropped these output regions (CallResponse.retired_regions).
  void ForgetOutputRegions(
      const google::protobuf::RepeatedField<uint64_t>& ids);

  // Client regions and the current worker's output regions, and their bytes.
  size_t region_count() const;
  uint64_t mapped_bytes() const;
  bool worker_running() const;
  uint64_t output_bytes_in_use() const;
  uint64_t output_bytes_copied() const;

 private:
  // The worker's reader thread: hands a new output region to the client.
  void ForwardOutputRegion(uint64_t region_id, uint64_t byte_size, UniqueFd fd);
  absl::StatusOr<std::shared_ptr<Worker>> StartWorker()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(worker_mu_);
  // With a call lane open, the client may name what it just registered in
  // its next call, which bypasses the daemon: wait until the worker has it.
  void SyncIfLaneOpen(Worker* worker);

  const std::string secret_;
  const UniqueFd attach_fd_;
  const PeerCredentials peer_;
  WorkerPool* const workers_;
  const std::shared_ptr<LaneCloserSlot> lane_closer_;

  // Held while a worker starts (its replay included) and while anything is
  // sent to the worker that a replacement must also get, so nothing falls
  // between the two. Taken before mu_; never held by a plain call.
  mutable absl::Mutex worker_mu_;

  mutable absl::Mutex mu_;
  std::shared_ptr<Worker> worker_ ABSL_GUARDED_BY(mu_);
  uint32_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_lane_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, AttachedFd> pending_fds_ ABSL_GUARDED_BY(mu_);
  uint64_t next_region_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, KernelSetCache::Entry> kernel_sets_ ABSL_GUARDED_BY(mu_);
  // Output regions the current worker made, and those of dead workers that
  // the client has not been told to forget yet.
  std::map<uint64_t, uint64_t> worker_output_regions_
      ABSL_GUARDED_BY(mu_);  // id -> bytes
  std::vector<uint64_t> retired_regions_ ABSL_GUARDED_BY(mu_);

  RegionTable regions_;  // the client's regions

  // Serializes frames the daemon sends on the attach socket.
  absl::Mutex send_mu_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_SESSION_H_
