#include "client_shim/memory/staging_pool.h"

#include <sys/mman.h>
#include <unistd.h>

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

// Faults in bytes [from, to) of `region` (page-aligned) now, in one system
// call: a copy into pages never touched would otherwise take one page fault
// per 4 KiB in its middle, and the fault-per-page path took 1.3 to 1.7 times
// as long as this for 1 to 64 MiB here. Best effort: false where the kernel
// lacks MADV_POPULATE_WRITE or memory is short (the pages then fault in on
// first touch, as before).
bool Prefault(const SharedRegion& region, uint64_t from, uint64_t to) {
  return madvise(region.data() + from, to - from, MADV_POPULATE_WRITE) == 0;
}

// Whether a free region of `a` bytes serves a call of `byte_size` better
// than one of `b`: the smallest that fits, else the biggest, to replace.
bool ServesBetter(uint64_t a, uint64_t b, uint64_t byte_size) {
  const bool a_fits = a >= byte_size;
  const bool b_fits = b >= byte_size;
  if (a_fits != b_fits) return a_fits;
  return a_fits ? a < b : a > b;
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
  CountStagingRegion();
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
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (best == free_.end() ||
          ServesBetter(it->region->size(), best->region->size(), byte_size)) {
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
    return LeaseOf(*std::move(reused), byte_size);
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
  return LeaseOf(*std::move(created), byte_size);
}

StagingPool::Lease StagingPool::LeaseOf(Buffer buffer, uint64_t byte_size) {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t to = std::min(RoundUp(byte_size, page), buffer.region->size());
  if (to > buffer.prefaulted) {
    const uint64_t start = StagingNowNanos();
    if (Prefault(*buffer.region, buffer.prefaulted, to)) {
      CountPrefault(to - buffer.prefaulted, StagingNowNanos() - start);
    }
    // Faulted in now, or on first touch by the copy: not again either way.
    buffer.prefaulted = to;
  }
  return Lease(this, std::move(buffer));
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
