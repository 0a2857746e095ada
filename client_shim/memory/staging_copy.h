// How input bytes get into a staging region, and what that cost so far in
// this process (for benchmarks and tests; the shim itself never reads it).
//
// The region is read next by the session's worker, usually on another CPU,
// so the copy is a handoff between cores, not a private memcpy: what is
// cheapest depends on whether the bytes fit in cache (staging_copy.cc).
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_STAGING_COPY_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_STAGING_COPY_H_

#include <cstdint>

namespace aoti_executor {
namespace client {

// Copies of at least this many bytes bypass the cache (non-temporal stores):
// source and destination no longer fit in this CPU's share of the caches, so
// a plain store would first read each destination line from memory (or from
// the worker's cache) only to overwrite it. Below this a plain memcpy is
// faster (measured: bench/staging_copy_benchmark.cc, docs/benchmarks.md).
inline constexpr uint64_t kNonTemporalCopyBytes = uint64_t{16} << 20;

// Copies of at least this many bytes are timed in StagingTotals::copy_nanos.
inline constexpr uint64_t kTimedCopyBytes = uint64_t{64} << 10;

// Copies [src, src + n) to `dst` (memcpy, or CopyStreaming from
// kNonTemporalCopyBytes up); the ranges must not overlap. Counted in the
// totals below (the time only from kTimedCopyBytes up).
void CopyToStaging(uint8_t* dst, const uint8_t* src, uint64_t n);

// The copy with non-temporal stores, whatever `n` and the alignments (plain
// memcpy where the CPU has none); every store is visible to a later
// release store of this thread. Not counted.
void CopyStreaming(uint8_t* dst, const uint8_t* src, uint64_t n);

// Process-wide, monotonic; each field is read on its own (relaxed), so a
// snapshot taken while a call stages may pair bytes with the previous time.
struct StagingTotals {
  uint64_t copies = 0;            // CopyToStaging calls
  uint64_t bytes = 0;             // bytes they copied
  uint64_t copy_nanos = 0;        // time spent in those of kTimedCopyBytes up
  uint64_t regions_created = 0;   // staging regions made (StagingPool)
  uint64_t prefaulted_bytes = 0;  // bytes of them faulted in ahead of copies
  uint64_t prefault_nanos = 0;    // time that took
};
StagingTotals ReadStagingTotals();

// For StagingPool: a region made; `bytes` of a region faulted in within
// `nanos`.
void CountStagingRegion();
void CountPrefault(uint64_t bytes, uint64_t nanos);

// Monotonic clock, in nanoseconds.
uint64_t StagingNowNanos();

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_MEMORY_STAGING_COPY_H_
