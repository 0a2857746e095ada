// How long a waiter on a call lane spins before it sleeps on the futex.
//
// Waking a sleeper on another CPU costs 20-60 us here; spinning catches an
// answer (or the next call) that comes within microseconds for the price of
// a busy CPU meanwhile. With two CPUs that price is paid by the op or by the
// host's own threads, so the budget adapts: a wait that ends within the
// budget keeps it; one that ends soon after (within a few budgets) restores
// the full budget, as waits are short and spinning pays; one that ends much
// later halves it, down to nothing for sparse calls. With one usable CPU the
// budget is zero: spinning could only delay the thread being waited for.
#ifndef AOTI_EXECUTOR_SERVER_LANE_SPIN_BUDGET_H_
#define AOTI_EXECUTOR_SERVER_LANE_SPIN_BUDGET_H_

#include <cstdint>

namespace aoti_executor {

class SpinBudget {
 public:
  // Spin at most `max_ns` (0 disables spinning).
  explicit SpinBudget(int64_t max_ns);

  int64_t spin_ns() const { return spin_ns_; }
  // Feeds back how long the latest wait took, spinning and sleeping.
  void Observe(int64_t waited_ns);

  // The default maximum for this process: `preferred_ns`, or 0 when the
  // process may run on one CPU only.
  static int64_t MaxForThisMachine(int64_t preferred_ns);

 private:
  const int64_t max_ns_;
  int64_t spin_ns_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_LANE_SPIN_BUDGET_H_
