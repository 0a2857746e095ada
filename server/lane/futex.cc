#include "server/lane/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <limits>

#include "absl/time/clock.h"

namespace aoti_executor {

int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

int64_t MonotonicDeadline(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    return std::numeric_limits<int64_t>::max();
  }
  const absl::Duration left = deadline - absl::Now();
  const int64_t now = MonotonicNanos();
  const int64_t max_left = std::numeric_limits<int64_t>::max() - now;
  if (left >= absl::Nanoseconds(max_left)) {
    return std::numeric_limits<int64_t>::max();
  }
  return now + std::max<int64_t>(absl::ToInt64Nanoseconds(left), -now);
}

void FutexWait(std::atomic<uint32_t>* word, uint32_t value,
               int64_t deadline_ns) {
  const int64_t left = deadline_ns - MonotonicNanos();
  if (left <= 0) return;
  // FUTEX_WAIT takes a relative timeout; capped so a far deadline does not
  // overflow time_t arithmetic in the kernel.
  const int64_t capped = std::min<int64_t>(left, int64_t{3600} * 1000000000);
  timespec timeout{static_cast<time_t>(capped / 1000000000),
                   static_cast<long>(capped % 1000000000)};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, value,
          &timeout, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX,
          nullptr, nullptr, 0);
}

}  // namespace aoti_executor
