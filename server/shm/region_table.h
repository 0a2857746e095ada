// One session's shared-memory regions, by id. In the daemon: the client's
// regions. In the session's worker: those, and the output regions it made.
// A table holds no other session's regions, so an id from another client
// simply does not resolve.
#ifndef AOTI_EXECUTOR_SERVER_SHM_REGION_TABLE_H_
#define AOTI_EXECUTOR_SERVER_SHM_REGION_TABLE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {

class RegionTable {
 public:
  // Most regions one table holds.
  static constexpr size_t kMaxRegions = 4096;

  // AlreadyExists for a taken id, ResourceExhausted past kMaxRegions.
  absl::Status Add(uint64_t region_id, std::shared_ptr<SharedRegion> region);
  // Drops `region_id`; tensors over it keep their mapping. False if unknown.
  bool Remove(uint64_t region_id);

  // NotFound, naming the id, for a region this table does not hold.
  absl::StatusOr<std::shared_ptr<SharedRegion>> Find(uint64_t region_id) const;
  // Every region, for replaying them to a new worker.
  std::vector<std::pair<uint64_t, std::shared_ptr<SharedRegion>>> Snapshot()
      const;
  size_t size() const;
  uint64_t total_bytes() const;

  // The region whose mapping holds [p, p + n), with its id; null if none.
  std::shared_ptr<SharedRegion> FindContaining(const void* p, uint64_t n,
                                               uint64_t* region_id) const;

 private:
  mutable absl::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<SharedRegion>> regions_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SHM_REGION_TABLE_H_
