#include "client_shim/memory/host_regions.h"

#include "client_shim/memory/shared_allocator.h"

namespace aoti_executor {
namespace client {

absl::optional<KnownRegion> HostRegions::Find(const void* p, uint64_t n,
                                              absl::Time deadline) {
  if (!SharedAllocatorInstalled()) return absl::nullopt;
  absl::optional<SharedAllocation> allocation = FindSharedAllocation(p, n);
  if (!allocation.has_value()) return absl::nullopt;
  // Held across the registration: two calls must not register one region
  // twice, and registrations are rare (a model's buffers are reused).
  absl::MutexLock lock(&mu_);
  ReleaseDroppedLocked(deadline);
  auto it = registered_.find(allocation->key);
  if (it != registered_.end()) return it->second;
  absl::StatusOr<uint64_t> region_id =
      registrar_->RegisterRegion(*allocation->region, deadline);
  if (!region_id.ok()) return absl::nullopt;
  KnownRegion known{*region_id, allocation->region};
  registered_.emplace(allocation->key, known);
  return known;
}

void HostRegions::ReleaseDropped(absl::Time deadline) {
  if (!SharedAllocatorInstalled() ||
      SharedRegionsDropped() == drops_seen_.load()) {
    return;
  }
  absl::MutexLock lock(&mu_);
  ReleaseDroppedLocked(deadline);
}

void HostRegions::ReleaseDroppedLocked(absl::Time deadline) {
  const uint64_t drops = SharedRegionsDropped();
  if (drops == drops_seen_.load()) return;
  drops_seen_ = drops;
  for (auto it = registered_.begin(); it != registered_.end();) {
    if (SharedRegionRetained(it->first)) {
      ++it;
      continue;
    }
    registrar_->ReleaseRegion(it->second.region_id, deadline);
    it = registered_.erase(it);
  }
}

size_t HostRegions::size() const {
  absl::MutexLock lock(&mu_);
  return registered_.size();
}

}  // namespace client
}  // namespace aoti_executor
