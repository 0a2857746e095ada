// Futex doorbells on shared memory, and the monotonic clock both sides of a
// call lane read (CLOCK_MONOTONIC is one clock for every process of a host).
#ifndef AOTI_EXECUTOR_SERVER_LANE_FUTEX_H_
#define AOTI_EXECUTOR_SERVER_LANE_FUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace aoti_executor {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "a futex word is a plain lock-free 32-bit word");

// Nanoseconds on CLOCK_MONOTONIC.
int64_t MonotonicNanos();

// `deadline` on CLOCK_MONOTONIC, saturating at the far past and future.
int64_t MonotonicDeadline(absl::Time deadline);

// Sleeps while `*word` == `value`, until woken or `deadline_ns` (monotonic).
// Spurious returns are possible: callers re-check their condition. The word
// may be in memory shared between processes (no FUTEX_PRIVATE_FLAG).
void FutexWait(std::atomic<uint32_t>* word, uint32_t value,
               int64_t deadline_ns);

// Wakes every thread, in any process, sleeping on `word`.
void FutexWakeAll(std::atomic<uint32_t>* word);

// One pause of a spin loop: lets the sibling hyperthread run.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_LANE_FUTEX_H_
