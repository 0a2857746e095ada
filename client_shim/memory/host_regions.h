// The host's shared allocations (client_shim/shared_allocator.h) that this
// session has registered with the daemon, so that the model's own buffers
// travel by reference instead of through staging.
//
// A region is registered the first time an input lies in it, and stays
// registered while the allocator keeps it (in use or cached for reuse, with
// the same key); once the allocator drops it, the next lookup releases it at
// the daemon. A failed registration is not an error: that input is staged.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_HOST_REGIONS_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_HOST_REGIONS_H_

#include <atomic>
#include <cstdint>
#include <map>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client_shim/memory/output_regions.h"
#include "client_shim/memory/staging_pool.h"

namespace aoti_executor {
namespace client {

class HostRegions {
 public:
  // `registrar` (the session) must outlive this object.
  explicit HostRegions(StagingPool::Registrar* registrar)
      : registrar_(registrar) {}

  // The registered region that holds [p, p + n), registering it until
  // `deadline` if need be; nullopt if no shared allocation holds it.
  // Thread-safe.
  absl::optional<KnownRegion> Find(const void* p, uint64_t n,
                                   absl::Time deadline);

  // Releases, at the daemon, the regions the allocator has dropped since
  // the last look (cheap when it has dropped none). Every call runs it, so
  // freed model buffers do not stay mapped in the daemon and the worker.
  void ReleaseDropped(absl::Time deadline);

  size_t size() const;

 private:
  void ReleaseDroppedLocked(absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  StagingPool::Registrar* const registrar_;
  mutable absl::Mutex mu_;
  // Allocator key -> the region and its id in the session.
  std::map<uint64_t, KnownRegion> registered_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> drops_seen_{0};
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_HOST_REGIONS_H_
