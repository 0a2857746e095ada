#include "client_shim/memory/output_regions.h"

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace client {

absl::optional<std::shared_ptr<SharedRegion>> OutputRegions::Mapped(
    uint64_t region_id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(region_id);
  if (it == by_id_.end()) return absl::nullopt;
  return it->second;
}

absl::StatusOr<std::shared_ptr<SharedRegion>> OutputRegions::Get(
    uint64_t region_id, absl::Time deadline) {
  if (auto region = Mapped(region_id)) return *std::move(region);
  AOTI_RETURN_IF_ERROR(inbox_->ReadUntil(
      [this, region_id] { return Mapped(region_id).has_value(); }, deadline,
      absl::StrCat("output region ", region_id)));
  return *Mapped(region_id);
}

void OutputRegions::Add(uint64_t region_id,
                        std::shared_ptr<SharedRegion> region) {
  absl::MutexLock lock(&mu_);
  if (by_id_.count(region_id) > 0) return;  // a repeat: keep the first
  by_address_[reinterpret_cast<uintptr_t>(region->data())] = region_id;
  by_id_[region_id] = std::move(region);
}

absl::optional<KnownRegion> OutputRegions::Find(const void* p,
                                                uint64_t n) const {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  absl::MutexLock lock(&mu_);
  auto it = by_address_.upper_bound(address);
  if (it == by_address_.begin()) return absl::nullopt;
  --it;
  const std::shared_ptr<SharedRegion>& region = by_id_.at(it->second);
  if (!region->Contains(p, n)) return absl::nullopt;
  return KnownRegion{it->second, region};
}

void OutputRegions::Forget(uint64_t region_id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(region_id);
  if (it == by_id_.end()) return;
  by_address_.erase(reinterpret_cast<uintptr_t>(it->second->data()));
  by_id_.erase(it);
}

size_t OutputRegions::size() const {
  absl::MutexLock lock(&mu_);
  return by_id_.size();
}

}  // namespace client
}  // namespace aoti_executor
