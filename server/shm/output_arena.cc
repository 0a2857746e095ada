#include "server/shm/output_arena.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

constexpr char kRegionName[] = "aoti-output-region";

// `value` rounded up to a multiple of `unit` (a power of two), or nullopt on
// overflow.
std::optional<uint64_t> RoundUp(uint64_t value, uint64_t unit) {
  uint64_t sum;
  if (__builtin_add_overflow(value, unit - 1, &sum)) {
    return std::nullopt;
  }
  return sum & ~(unit - 1);
}

uint64_t PageSize() {
  const long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<uint64_t>(page) : 4096;
}

}  // namespace

// A SharedRegion with its free and used lists. Both map a block's offset to
// its size; free blocks are disjoint and never adjacent (coalesced), and
// every offset and size is a multiple of kAlignment.
struct OutputArena::Region {
  Region(std::shared_ptr<SharedRegion> shared_region, uint64_t usable)
      : region(std::move(shared_region)) {
    free[0] = usable;
  }

  // First fit: takes `size` bytes from the lowest free block that holds them.
  std::optional<uint64_t> Take(uint64_t size) {
    for (auto it = free.begin(); it != free.end(); ++it) {
      if (it->second < size) {
        continue;
      }
      const uint64_t offset = it->first;
      const uint64_t left = it->second - size;
      free.erase(it);
      if (left > 0) {
        free[offset + size] = left;
      }
      used[offset] = size;
      return offset;
    }
    return std::nullopt;
  }

  // Returns [offset, offset + size) to the free list, merged with its
  // neighbours.
  void Give(uint64_t offset, uint64_t size) {
    auto next = free.lower_bound(offset);
    if (next != free.end() && offset + size == next->first) {
      size += next->second;
      next = free.erase(next);
    }
    if (next != free.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += size;
        return;
      }
    }
    free.emplace_hint(next, offset, size);
  }

  std::shared_ptr<SharedRegion> region;
  std::map<uint64_t, uint64_t> free;
  std::map<uint64_t, uint64_t> used;
};

OutputArena::OutputArena(PublishFn publish, RetireFn retire,
                         uint64_t region_size)
    : publish_(std::move(publish)),
      retire_(std::move(retire)),
      region_size_(RoundUp(std::max(region_size, kAlignment), kAlignment)
                       .value_or(kDefaultRegionSize)) {}

OutputArena::~OutputArena() = default;

absl::StatusOr<OutputArena::Block> OutputArena::Allocate(uint64_t byte_size) {
  std::optional<uint64_t> need =
      RoundUp(std::max(byte_size, kAlignment), kAlignment);
  if (!need.has_value()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("output of ", byte_size, " bytes is too large"));
  }
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, region] : regions_) {
      if (std::optional<uint64_t> offset = region->Take(*need)) {
        bytes_in_use_ += *need;
        return Block{id, *offset, region->region->data() + *offset};
      }
    }
  }

  // No room: a new region, created and published outside the lock (publish
  // sends its fd to the client), then added. Another thread may do the same
  // meanwhile; both regions are then kept and used.
  uint64_t region_bytes = region_size_;
  if (*need > region_size_) {
    std::optional<uint64_t> rounded = RoundUp(*need, PageSize());
    if (!rounded.has_value()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("output of ", byte_size, " bytes is too large"));
    }
    region_bytes = *rounded;
  }
  if (!publish_) {
    return absl::FailedPreconditionError(
        "output arena has no publish callback");
  }
  absl::StatusOr<SharedRegion> created =
      SharedRegion::Create(kRegionName, region_bytes);
  if (!created.ok()) {
    return absl::Status(
        created.status().code(),
        absl::StrCat("creating an output region of ", region_bytes,
                     " bytes: ", created.status().message()));
  }
  auto shared = std::make_shared<SharedRegion>(std::move(*created));
  absl::StatusOr<uint64_t> id = publish_(shared);
  if (!id.ok()) {
    return id.status();
  }

  auto region = std::make_unique<Region>(std::move(shared), region_bytes);
  const std::optional<uint64_t> offset = region->Take(*need);
  if (!offset.has_value()) {
    return absl::InternalError("a new output region has no room");
  }
  uint8_t* data = region->region->data() + *offset;

  absl::MutexLock lock(&mu_);
  if (!regions_.emplace(*id, std::move(region)).second) {
    return absl::InternalError(absl::StrCat("publish returned region id ", *id,
                                            ", which is already in use"));
  }
  bytes_in_use_ += *need;
  return Block{*id, *offset, data};
}

absl::Status OutputArena::Release(uint64_t region_id, uint64_t offset) {
  absl::MutexLock lock(&mu_);
  auto region_it = regions_.find(region_id);
  if (region_it == regions_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("no output block at region ",
                                                   region_id, " offset ",
                                                   offset, ": unknown region"));
  }
  Region& region = *region_it->second;
  auto used_it = region.used.find(offset);
  if (used_it == region.used.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no output block at region ", region_id, " offset ",
                     offset, " is allocated (released twice?)"));
  }
  const uint64_t size = used_it->second;
  region.used.erase(used_it);
  region.Give(offset, size);
  bytes_in_use_ -= size;
  return absl::OkStatus();
}

void OutputArena::RetireEmptyRegions() {
  std::vector<std::pair<uint64_t, std::unique_ptr<Region>>> dropped;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = regions_.begin();
         it != regions_.end() && regions_.size() > 1;) {
      if (!it->second->used.empty()) {
        ++it;
        continue;
      }
      dropped.emplace_back(it->first, std::move(it->second));
      it = regions_.erase(it);
    }
  }
  // Outside the lock: retire_ may talk to the session, and unmapping a large
  // region takes a while.
  for (auto& [region_id, region] : dropped) {
    region.reset();
    if (retire_) retire_(region_id);
  }
}

uint64_t OutputArena::bytes_in_use() const {
  absl::MutexLock lock(&mu_);
  return bytes_in_use_;
}

size_t OutputArena::region_count() const {
  absl::MutexLock lock(&mu_);
  return regions_.size();
}

}  // namespace aoti_executor
