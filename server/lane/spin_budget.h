// How long a waiter on a call lane spins before it sleeps on the futex.
//
// Waking a sleeper on another CPU costs 20-60 us here; spinning catches an
// answer (or the next call) that comes within microseconds for the price of
// a busy CPU meanwhile. With two CPUs that price is paid by the op or by the
// host's own threads, so the budget is learned from the last kHistory waits,
// each measured up to the moment the peer was ready (not the moment the
// waiter saw it, which for a sleeper is a wake-up later):
//   - a wait of at most the maximum is "short": spinning could have caught
//     it, saving a wake-up, which we price at the maximum (the maximum is
//     the longest spin worth a wake-up);
//   - a longer one is "long": a spin before it is wasted.
// The budget covers the short waits seen (twice the longest, at least a
// quarter of the maximum, for jitter) and is spent only while the wake-ups
// it saves outweigh the spins it wastes: shorts x maximum > longs x budget.
// So calls in bursts keep a budget sized to their gaps however long the
// pauses between bursts, and sparse calls (or gaps just past the maximum)
// sleep at once. With one usable CPU the budget is zero: spinning could only
// delay the thread being waited for.
#ifndef AOTI_EXECUTOR_SERVER_LANE_SPIN_BUDGET_H_
#define AOTI_EXECUTOR_SERVER_LANE_SPIN_BUDGET_H_

#include <array>
#include <cstdint>

namespace aoti_executor {

class SpinBudget {
 public:
  // How many of the latest waits the budget is learned from.
  static constexpr int kHistory = 8;

  // Spin at most `max_ns` (0 disables spinning); the full `max_ns` until a
  // wait has been observed.
  explicit SpinBudget(int64_t max_ns);

  int64_t spin_ns() const { return spin_ns_; }
  // Feeds back how long after the start of the latest wait the peer was
  // ready (or how long a wait that timed out lasted).
  void Observe(int64_t ready_after_ns);

  // The default maximum for this process: `preferred_ns`, or 0 when the
  // process may run on one CPU only.
  static int64_t MaxForThisMachine(int64_t preferred_ns);

 private:
  const int64_t max_ns_;
  int64_t spin_ns_;
  std::array<int64_t, kHistory> recent_{};  // a ring, `observed_` filled
  int next_ = 0;
  int observed_ = 0;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_LANE_SPIN_BUDGET_H_
