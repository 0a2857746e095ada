// One client's session: its secret, its attach-socket connection, the
// regions it shares with the daemon, its kernel sets and its output arena.
//
// A session lives as long as its attach-socket connection; calls in flight
// hold a shared_ptr, so a session that ends mid-call is freed after it.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_SESSION_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_SESSION_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/kernels/kernel_set.h"
#include "server/shm/output_arena.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {

// Who is on the other end of the attach socket (SO_PEERCRED).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

class Session {
 public:
  // Most regions a session may hold (client regions and output regions).
  static constexpr size_t kMaxRegions = 4096;
  // Most memfds a session may have sent and not registered yet. The shim has
  // at most one per call in flight; each holds an fd of the daemon.
  static constexpr size_t kMaxPendingFds = 256;

  // Takes ownership of the connected attach socket `attach_fd`.
  Session(std::string secret, int attach_fd, PeerCredentials peer);
  ~Session();  // closes the attach socket
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& secret() const { return secret_; }
  const PeerCredentials& peer() const { return peer_; }
  int attach_fd() const { return attach_fd_; }

  // A memfd that arrived on the attach socket as kClientRegion, waiting for
  // its RegisterRegion. Takes ownership of `fd` (closing it on failure).
  // ResourceExhausted if kMaxPendingFds are already waiting: the client is
  // flooding the daemon with fds, and its session should end.
  absl::Status AddPendingFd(uint64_t attach_id, int fd, uint64_t size);
  // Maps the memfd sent with `attach_id` (waiting for it until `deadline`)
  // and returns the new region's id.
  absl::StatusOr<uint64_t> RegisterClientRegion(uint64_t attach_id,
                                                absl::Time deadline);
  // Drops a client region; calls in flight keep their mapping.
  absl::Status ReleaseClientRegion(uint64_t region_id);

  // The region `region_id` of this session, client or output.
  absl::StatusOr<std::shared_ptr<SharedRegion>> FindRegion(
      uint64_t region_id) const;
  // The region whose mapping holds [p, p + n), with its id; null if none.
  std::shared_ptr<SharedRegion> FindRegionContaining(const void* p, uint64_t n,
                                                     uint64_t* region_id) const;

  // Kernel sets this session registered, by id.
  void AddKernelSet(uint64_t id, std::shared_ptr<const KernelSet> set);
  absl::StatusOr<std::shared_ptr<const KernelSet>> FindKernelSet(
      uint64_t id) const;

  OutputArena& outputs() { return outputs_; }
  // Output regions dropped since the last call, for CallResponse; clears.
  std::vector<uint64_t> TakeRetiredRegions();

  size_t region_count() const;
  uint64_t mapped_bytes() const;

 private:
  struct PendingFd {
    int fd;
    uint64_t size;
  };

  absl::StatusOr<uint64_t> AddRegion(std::shared_ptr<SharedRegion> region,
                                     bool is_output);
  // OutputArena's publish hook: registers the region and sends its fd.
  absl::StatusOr<uint64_t> PublishOutputRegion(
      std::shared_ptr<SharedRegion> region);
  void RetireOutputRegion(uint64_t region_id);

  const std::string secret_;
  const int attach_fd_;
  const PeerCredentials peer_;

  mutable absl::Mutex mu_;
  std::map<uint64_t, PendingFd> pending_fds_ ABSL_GUARDED_BY(mu_);
  struct RegionEntry {
    std::shared_ptr<SharedRegion> region;
    bool is_output;
  };
  std::map<uint64_t, RegionEntry> regions_ ABSL_GUARDED_BY(mu_);
  uint64_t next_region_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<uint64_t> retired_regions_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<const KernelSet>> kernel_sets_
      ABSL_GUARDED_BY(mu_);

  // Serializes frames the daemon sends on the attach socket.
  absl::Mutex send_mu_;

  OutputArena outputs_;  // last: its regions go before the table above
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_SESSION_H_
