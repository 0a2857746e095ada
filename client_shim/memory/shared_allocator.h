// The host's CPU allocator in shared memory: once installed, every CPU tensor
// of at least kSharedAllocationMinBytes gets a sealed memfd of its own, so a
// session can send the model's own buffers to the daemon by reference
// instead of copying them into a staging region.
//
// Each large allocation is one SharedRegion (memfd "aoti-host-tensor", its
// size rounded up to whole pages). A freed region is kept for the next
// allocation of the same rounded size, as long as the cache holds at most
// kMaxCachedRegions regions and kMaxCachedBytes bytes (the oldest freed goes
// first), because models allocate the same sizes every step and a new
// memfd's mmap and first touch cost far more than reuse. A recycled region
// keeps its key: it is the same memfd, so whatever the daemon registered for
// it stays valid. Smaller allocations, and large ones whose memfd cannot be
// made (e.g. out of fds; one line goes to stderr the first time), go to the
// allocator that was installed before.
//
// A region's lifetime: the registry holds it while it is allocated or
// cached, and any caller that took its shared_ptr (FindSharedAllocation)
// holds it as long as it keeps that pointer. The memfd closes when the
// registry has dropped it from the cache and the last shared_ptr is gone.
//
// How a session learns that a region is gone (to tell the daemon): it keeps
// the shared_ptr of every region it registered, and whenever
// SharedRegionsDropped() has changed since it last looked, it forgets (and
// unregisters) each registered key for which SharedRegionRetained() is now
// false. A region that is merely free (cached) is still retained: its key
// will come back with its next allocation.
//
// All functions are thread-safe and never throw. The registry and the
// allocator are never destroyed, so tensors freed during process exit are
// safe.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_SHARED_ALLOCATOR_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_SHARED_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/types/optional.h"
#include "server/shm/shared_region.h"

namespace aoti_executor {
namespace client {

// Allocations of at least this many bytes go to shared memory.
inline constexpr size_t kSharedAllocationMinBytes = size_t{1} << 20;
// Bounds of the cache of freed regions.
inline constexpr uint64_t kMaxCachedBytes = uint64_t{256} << 20;
inline constexpr size_t kMaxCachedRegions = 64;

// A live shared allocation that holds a range of bytes.
struct SharedAllocation {
  // The allocation's memfd and mapping; keeps both alive while held.
  std::shared_ptr<SharedRegion> region;
  // Names `region` for the process's lifetime: never given to another
  // region, and kept when the region is recycled for a new allocation.
  uint64_t key = 0;
  // Where the range starts in `region` (p - region->data()).
  uint64_t offset = 0;
};

// The live shared allocation holding all of [p, p + n), if any: bounded by
// the bytes that were allocated, not by the (page-rounded) region. Freed
// (cached) regions are not found.
absl::optional<SharedAllocation> FindSharedAllocation(const void* p,
                                                      uint64_t n);

// Makes the shared allocator c10's CPU allocator (at::empty and every ATen op
// that allocates CPU memory use it; c10::GetDefaultCPUAllocator() does not),
// wrapping the one installed before. Idempotent and thread-safe, but it races
// with allocations on other threads that c10 does not synchronize: call it
// before the model allocates. It is installed with c10's highest priority,
// so later c10::SetAllocator calls for CPU take no effect; and it pins this
// shared library in memory (its deleters must outlive every tensor). Fails if
// another allocator still is the CPU allocator afterwards.
absl::Status InstallSharedAllocator();

// True if the shared allocator is c10's CPU allocator now.
bool SharedAllocatorInstalled();

// True while the registry holds the region named `key` (allocated or
// cached).
bool SharedRegionRetained(uint64_t key);

// How many regions the registry has dropped so far; changes whenever some
// key stops being retained.
uint64_t SharedRegionsDropped();

// A snapshot of the registry, for tests and diagnostics.
struct SharedAllocatorStats {
  size_t live_regions = 0;    // allocated now
  size_t cached_regions = 0;  // freed, kept for reuse
  uint64_t cached_bytes = 0;
  uint64_t regions_created = 0;  // memfds made so far
  uint64_t regions_dropped = 0;  // as SharedRegionsDropped()
};
SharedAllocatorStats GetSharedAllocatorStats();

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_SHARED_ALLOCATOR_H_
