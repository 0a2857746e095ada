// The client's staging regions: shared memory that input tensors not already
// in a region are copied into, one region per call in flight.
//
// A region is created, sent to the daemon and registered once, then reused
// by call after call. Its pages are faulted in as far as a call will copy,
// in one system call (MADV_POPULATE_WRITE), before the copy: a first call of
// a few bytes faults in one page, not the megabyte, and no page is faulted in
// twice. A call that needs more
// than the region it gets replaces it with a bigger one (the old one is
// released). Calls in flight at once each hold their own region.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_STAGING_POOL_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_STAGING_POOL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace client {

class StagingPool {
 public:
  // How a pool makes its regions known to the daemon (the session does it:
  // a kClientRegion frame, then RegisterRegion).
  class Registrar {
   public:
    virtual ~Registrar() = default;
    // Registers `region`; returns its region id in the session.
    virtual absl::StatusOr<uint64_t> RegisterRegion(const SharedRegion& region,
                                                    absl::Time deadline) = 0;
    // Best effort: tells the daemon that `region_id` is no longer used.
    virtual void ReleaseRegion(uint64_t region_id, absl::Time deadline) = 0;
  };

  static constexpr uint64_t kMinRegionSize = uint64_t{1} << 20;
  static constexpr uint64_t kGranularity = uint64_t{1} << 20;

  // A region held by one call; returns to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    uint64_t region_id() const { return buffer_.region_id; }
    uint8_t* data() const { return buffer_.region->data(); }
    uint64_t size() const { return buffer_.region->size(); }

   private:
    friend class StagingPool;
    struct Buffer {
      std::shared_ptr<SharedRegion> region;
      uint64_t region_id = 0;
      uint64_t prefaulted = 0;  // bytes from the start faulted in
    };
    Lease(StagingPool* pool, Buffer buffer)
        : pool_(pool), buffer_(std::move(buffer)) {}

    StagingPool* pool_;
    Buffer buffer_;
  };

  // `registrar` must outlive the pool, and the pool every Lease.
  explicit StagingPool(Registrar* registrar) : registrar_(registrar) {}

  // A region of at least `byte_size` bytes for one call. Thread-safe.
  absl::StatusOr<Lease> Acquire(uint64_t byte_size, absl::Time deadline);

  // Regions the pool owns (free or leased).
  size_t region_count() const;

 private:
  using Buffer = Lease::Buffer;
  absl::StatusOr<Buffer> CreateRegion(uint64_t byte_size, absl::Time deadline);
  // A lease of `buffer`, its first `byte_size` bytes faulted in.
  Lease LeaseOf(Buffer buffer, uint64_t byte_size);
  void Return(Buffer buffer);

  Registrar* const registrar_;
  mutable absl::Mutex mu_;
  std::vector<Buffer> free_ ABSL_GUARDED_BY(mu_);
  size_t leased_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_STAGING_POOL_H_
