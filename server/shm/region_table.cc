#include "server/shm/region_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace aoti_executor {

absl::Status RegionTable::Add(uint64_t region_id,
                              std::shared_ptr<SharedRegion> region) {
  absl::MutexLock lock(&mu_);
  if (regions_.size() >= kMaxRegions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the session already holds ", regions_.size(), " regions (the limit)"));
  }
  if (!regions_.emplace(region_id, std::move(region)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("region ", region_id, " is already mapped"));
  }
  return absl::OkStatus();
}

bool RegionTable::Remove(uint64_t region_id) {
  absl::MutexLock lock(&mu_);
  return regions_.erase(region_id) > 0;
}

absl::StatusOr<std::shared_ptr<SharedRegion>> RegionTable::Find(
    uint64_t region_id) const {
  absl::MutexLock lock(&mu_);
  auto it = regions_.find(region_id);
  if (it == regions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no region ", region_id, " in this session"));
  }
  return it->second;
}

std::vector<std::pair<uint64_t, std::shared_ptr<SharedRegion>>>
RegionTable::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return {regions_.begin(), regions_.end()};
}

size_t RegionTable::size() const {
  absl::MutexLock lock(&mu_);
  return regions_.size();
}

uint64_t RegionTable::total_bytes() const {
  absl::MutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& [id, region] : regions_) total += region->size();
  return total;
}

std::shared_ptr<SharedRegion> RegionTable::FindContaining(
    const void* p, uint64_t n, uint64_t* region_id) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, region] : regions_) {
    if (region->Contains(p, n)) {
      *region_id = id;
      return region;
    }
  }
  return nullptr;
}

}  // namespace aoti_executor
