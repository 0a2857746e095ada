// The daemon's output regions of one session, as the client maps them.
//
// The daemon sends each output region's memfd on the attach socket before it
// answers the first call whose outputs lie in it; the session's AttachInbox
// maps it and hands it here (Add). An answer that names a region not here
// yet reads the inbox until it is. A region stays mapped for the session:
// the daemon may put later outputs in it. Each output tensor holds a
// shared_ptr to its region, so it stays readable after the session or the
// daemon is gone.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_OUTPUT_REGIONS_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_OUTPUT_REGIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client_shim/transport/attach_inbox.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace client {

// A region the client has mapped, and its id in the session.
struct KnownRegion {
  uint64_t region_id = 0;
  std::shared_ptr<SharedRegion> region;
};

class OutputRegions {
 public:
  // `inbox` must outlive this object.
  explicit OutputRegions(AttachInbox* inbox) : inbox_(inbox) {}

  // A region the inbox mapped; a repeat of one already here is dropped.
  void Add(uint64_t region_id, std::shared_ptr<SharedRegion> region);

  // The region `region_id`: mapped already, or read from the inbox until it
  // arrives or `deadline` passes. Thread-safe.
  absl::StatusOr<std::shared_ptr<SharedRegion>> Get(uint64_t region_id,
                                                    absl::Time deadline);

  // The region `region_id` if it is mapped already; never reads the socket.
  absl::optional<std::shared_ptr<SharedRegion>> Mapped(
      uint64_t region_id) const;

  // The mapped region that holds all of [p, p + n), if any. Thread-safe.
  absl::optional<KnownRegion> Find(const void* p, uint64_t n) const;

  // Unmaps region `region_id` once no tensor uses it (the daemon retired it).
  void Forget(uint64_t region_id);

  size_t size() const;

 private:
  AttachInbox* const inbox_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<SharedRegion>> by_id_ ABSL_GUARDED_BY(mu_);
  // Mapping start address -> region id, for Find.
  std::map<uintptr_t, uint64_t> by_address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_OUTPUT_REGIONS_H_
