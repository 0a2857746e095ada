#include "server/lane/spin_budget.h"

#include <sched.h>

namespace aoti_executor {
namespace {

// A wait this many budgets long still counts as "soon": spinning would have
// needed only a little longer.
constexpr int64_t kNearMiss = 4;
// Below this, a budget is not worth a clock read.
constexpr int64_t kSmallestSpinNs = 500;

}  // namespace

SpinBudget::SpinBudget(int64_t max_ns) : max_ns_(max_ns), spin_ns_(max_ns) {}

void SpinBudget::Observe(int64_t waited_ns) {
  if (waited_ns <= spin_ns_) return;
  if (waited_ns <= kNearMiss * max_ns_) {
    spin_ns_ = max_ns_;
    return;
  }
  spin_ns_ /= 2;
  if (spin_ns_ < kSmallestSpinNs) spin_ns_ = 0;
}

int64_t SpinBudget::MaxForThisMachine(int64_t preferred_ns) {
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return 0;
  return CPU_COUNT(&cpus) > 1 ? preferred_ns : 0;
}

}  // namespace aoti_executor
