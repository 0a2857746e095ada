#include "server/lane/spin_budget.h"

#include <sched.h>

#include <algorithm>

namespace aoti_executor {

SpinBudget::SpinBudget(int64_t max_ns) : max_ns_(max_ns), spin_ns_(max_ns) {}

void SpinBudget::Observe(int64_t ready_after_ns) {
  recent_[next_] = ready_after_ns;
  next_ = (next_ + 1) % kHistory;
  observed_ = std::min(observed_ + 1, kHistory);
  int64_t shorts = 0, longest_short = 0;
  for (int i = 0; i < observed_; ++i) {
    if (recent_[i] > max_ns_) continue;
    ++shorts;
    longest_short = std::max(longest_short, recent_[i]);
  }
  const int64_t longs = observed_ - shorts;
  // Twice the longest: a gap a little longer than the last ones still
  // catches the spin. A quarter of the maximum at least: back-to-back calls
  // show gaps of a microsecond, but a page fault or an interrupt in the host
  // stretches one now and then, and a spin that ends early costs nothing.
  const int64_t cover = std::clamp(2 * longest_short, max_ns_ / 4, max_ns_);
  spin_ns_ = shorts * max_ns_ > longs * cover ? cover : 0;
}

int64_t SpinBudget::MaxForThisMachine(int64_t preferred_ns) {
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return 0;
  return CPU_COUNT(&cpus) > 1 ? preferred_ns : 0;
}

}  // namespace aoti_executor
