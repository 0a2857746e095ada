#include "client_shim/memory/staging_copy.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace aoti_executor {
namespace client {
namespace {

std::atomic<uint64_t> copies{0};
std::atomic<uint64_t> copied_bytes{0};
std::atomic<uint64_t> copy_nanos{0};
std::atomic<uint64_t> regions_created{0};
std::atomic<uint64_t> prefaulted_bytes{0};
std::atomic<uint64_t> prefault_nanos{0};

}  // namespace

// Streaming stores write whole lines without reading them first (a plain
// store's read-for-ownership would fetch each line, possibly from the
// worker's cache), and leave nothing in this CPU's cache to evict the
// caller's working set.
void CopyStreaming(uint8_t* dst, const uint8_t* src, uint64_t n) {
#if defined(__x86_64__)
  const uint64_t head =
      std::min<uint64_t>(n, (64 - reinterpret_cast<uintptr_t>(dst) % 64) % 64);
  std::memcpy(dst, src, head);
  dst += head;
  src += head;
  n -= head;
  const uint64_t body = n / 64 * 64;
  for (uint64_t i = 0; i < body; i += 64) {
    const __m128i a =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m128i b =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
    const __m128i c =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
    const __m128i d =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 48), d);
  }
  // Streaming stores are weakly ordered: the request that publishes the
  // region must not overtake them.
  _mm_sfence();
  std::memcpy(dst + body, src + body, n - body);
#else
  std::memcpy(dst, src, n);
#endif
}

void CopyToStaging(uint8_t* dst, const uint8_t* src, uint64_t n) {
  copies.fetch_add(1, std::memory_order_relaxed);
  copied_bytes.fetch_add(n, std::memory_order_relaxed);
  // Every small call stages its inputs: two clock reads would cost it more
  // than its copy does.
  if (n < kTimedCopyBytes) {
    std::memcpy(dst, src, n);
    return;
  }
  const uint64_t start = StagingNowNanos();
  if (n >= kNonTemporalCopyBytes) {
    CopyStreaming(dst, src, n);
  } else {
    std::memcpy(dst, src, n);
  }
  copy_nanos.fetch_add(StagingNowNanos() - start, std::memory_order_relaxed);
}

StagingTotals ReadStagingTotals() {
  StagingTotals totals;
  totals.copies = copies.load(std::memory_order_relaxed);
  totals.bytes = copied_bytes.load(std::memory_order_relaxed);
  totals.copy_nanos = copy_nanos.load(std::memory_order_relaxed);
  totals.regions_created = regions_created.load(std::memory_order_relaxed);
  totals.prefaulted_bytes = prefaulted_bytes.load(std::memory_order_relaxed);
  totals.prefault_nanos = prefault_nanos.load(std::memory_order_relaxed);
  return totals;
}

void CountStagingRegion() {
  regions_created.fetch_add(1, std::memory_order_relaxed);
}

void CountPrefault(uint64_t bytes, uint64_t nanos) {
  prefaulted_bytes.fetch_add(bytes, std::memory_order_relaxed);
  prefault_nanos.fetch_add(nanos, std::memory_order_relaxed);
}

uint64_t StagingNowNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace client
}  // namespace aoti_executor
