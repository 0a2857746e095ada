#include "client_shim/memory/staging_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "client_shim/memory/staging_copy.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace client {
namespace {

uint64_t RoundUp(uint64_t n, uint64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

// Faults every page of `region` in now, in one system call: the first call
// that stages into a fresh region would otherwise take one page fault per
// 4 KiB in the middle of its copy, and the fault-per-page path took 1.3 to
// 1.7 times as long as this for 1 to 64 MiB here. Best effort: returns the
// bytes faulted in (0 where the kernel lacks MADV_POPULATE_WRITE or memory
// is short; the remaining pages then fault in on first touch, as before).
uint64_t Prefault(const SharedRegion& region) {
  if (madvise(region.data(), region.size(), MADV_POPULATE_WRITE) != 0) {
    return 0;
  }
  return region.size();
}

}  // namespace

StagingPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), buffer_(std::move(other.buffer_)) {
  other.pool_ = nullptr;
}

StagingPool::Lease& StagingPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr) pool_->Return(std::move(buffer_));
    pool_ = other.pool_;
    buffer_ = std::move(other.buffer_);
    other.pool_ = nullptr;
  }
  return *this;
}

StagingPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(std::move(buffer_));
}

absl::StatusOr<StagingPool::Buffer> StagingPool::CreateRegion(
    uint64_t byte_size, absl::Time deadline) {
  if (byte_size > std::numeric_limits<uint64_t>::max() - kGranularity) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a staging region of ", byte_size, " bytes"));
  }
  const uint64_t size =
      RoundUp(std::max(byte_size, kMinRegionSize), kGranularity);
  absl::StatusOr<SharedRegion> region =
      SharedRegion::Create("aoti-remote-staging", size);
  if (!region.ok()) {
    return WithContext(
        region.status(),
        absl::StrCat("creating a staging region of ", size, " bytes"));
  }
  const uint64_t start = StagingNowNanos();
  const uint64_t prefaulted = Prefault(*region);
  CountStagingRegion(prefaulted, StagingNowNanos() - start);
  Buffer buffer;
  buffer.region = std::make_shared<SharedRegion>(*std::move(region));
  absl::StatusOr<uint64_t> id =
      registrar_->RegisterRegion(*buffer.region, deadline);
  if (!id.ok()) {
    return WithContext(
        id.status(),
        absl::StrCat("registering a staging region of ", size, " bytes"));
  }
  buffer.region_id = *id;
  return buffer;
}

absl::StatusOr<StagingPool::Lease> StagingPool::Acquire(uint64_t byte_size,
                                                        absl::Time deadline) {
  absl::optional<Buffer> reused;
  {
    absl::MutexLock lock(&mu_);
    // The smallest free region that fits; else the biggest, to replace.
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      const bool fits = it->region->size() >= byte_size;
      if (best == free_.end()) {
        best = it;
        continue;
      }
      const bool best_fits = best->region->size() >= byte_size;
      if (fits && (!best_fits || it->region->size() < best->region->size())) {
        best = it;
      } else if (!fits && !best_fits &&
                 it->region->size() > best->region->size()) {
        best = it;
      }
    }
    if (best != free_.end()) {
      reused = std::move(*best);
      free_.erase(best);
    }
    ++leased_;
  }
  if (reused.has_value() && reused->region->size() >= byte_size) {
    return Lease(this, *std::move(reused));
  }
  // Grow geometrically, so a slowly growing input does not replace the region
  // on every call.
  uint64_t wanted = byte_size;
  if (reused.has_value()) {
    const uint64_t old_size = reused->region->size();
    wanted = std::max(wanted, old_size + old_size / 2);
  }
  absl::StatusOr<Buffer> created = CreateRegion(wanted, deadline);
  if (!created.ok()) {
    absl::MutexLock lock(&mu_);
    --leased_;
    if (reused.has_value()) free_.push_back(*std::move(reused));
    return created.status();
  }
  if (reused.has_value()) {
    registrar_->ReleaseRegion(reused->region_id, deadline);
  }
  return Lease(this, *std::move(created));
}

void StagingPool::Return(Buffer buffer) {
  absl::MutexLock lock(&mu_);
  --leased_;
  free_.push_back(std::move(buffer));
}

size_t StagingPool::region_count() const {
  absl::MutexLock lock(&mu_);
  return free_.size() + leased_;
}

}  // namespace client
}  // namespace aoti_executor
