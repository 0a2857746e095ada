// Call latency histograms by op, recorded on the Call RPC's path and read
// when /metrics is scraped.
//
// Recording is one hash of the op's name, a probe of a fixed table and two
// relaxed atomic adds: no lock and no allocation, so it may run in every
// call. An op takes a slot the first time it is recorded (a CAS on the slot's
// key); the table never shrinks, and ops past its size share one slot named
// kOtherOp, so a daemon with many distinct ops stays bounded.
#ifndef AOTI_EXECUTOR_SERVER_METRICS_CALL_LATENCIES_H_
#define AOTI_EXECUTOR_SERVER_METRICS_CALL_LATENCIES_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace aoti_executor {

class CallLatencies {
 public:
  // Distinct ops with their own histogram; later ones count as kOtherOp.
  static constexpr size_t kMaxOps = 256;
  static constexpr char kOtherOp[] = "other";
  // The buckets' upper bounds (inclusive), in seconds; a last, +Inf bucket
  // follows. From a lane-sized call (tens of microseconds) to the default
  // call timeout (60 s).
  static constexpr std::array<double, 20> kBoundsSeconds = {
      1e-5,   2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
      2.5e-2, 5e-2,   0.1,  0.25, 0.5,    1,    2.5,  5,      10,   60};
  static constexpr size_t kBuckets = kBoundsSeconds.size() + 1;

  CallLatencies();
  CallLatencies(const CallLatencies&) = delete;
  CallLatencies& operator=(const CallLatencies&) = delete;

  // Counts one call of `op` (the node's target, "aten::add.Tensor") that
  // took `latency`. Thread-safe; lock-free; allocates nothing.
  void Record(absl::string_view op, absl::Duration latency);

  struct OpHistogram {
    std::string op;
    // Calls per bucket (not cumulative), kBuckets of them, the last +Inf.
    std::vector<uint64_t> counts;
    uint64_t count = 0;  // the sum of counts
    double sum_seconds = 0;
  };
  // Every op recorded so far. Concurrent Records may land in one bucket and
  // not yet in the sum: a scrape sees each op's latest value, not a cut.
  std::vector<OpHistogram> Snapshot() const;

 private:
  static constexpr size_t kNameBytes = 128;
  struct Slot {
    std::atomic<uint64_t> key{0};    // the name's hash; 0: free
    std::atomic<bool> named{false};  // `name` is written (release)
    char name[kNameBytes] = {};
    std::array<std::atomic<uint64_t>, kBuckets> counts{};
    std::atomic<int64_t> sum_ns{0};
  };

  // The slot of `op` (claiming a free one), or the overflow slot.
  Slot& SlotOf(absl::string_view op);

  std::array<int64_t, kBoundsSeconds.size()> bounds_ns_;
  // kMaxOps slots for named ops, then the overflow slot.
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_METRICS_CALL_LATENCIES_H_
