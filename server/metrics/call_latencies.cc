#include "server/metrics/call_latencies.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string_view>

namespace aoti_executor {

CallLatencies::CallLatencies() : slots_(new Slot[kMaxOps + 1]) {
  for (size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    bounds_ns_[i] = std::llround(kBoundsSeconds[i] * 1e9);
  }
  Slot& other = slots_[kMaxOps];
  std::memcpy(other.name, kOtherOp, sizeof(kOtherOp));
  other.named.store(true, std::memory_order_release);
}

CallLatencies::Slot& CallLatencies::SlotOf(absl::string_view op) {
  // std::hash of a string_view hashes in place (no std::string is made).
  uint64_t key =
      std::hash<std::string_view>()(std::string_view(op.data(), op.size()));
  if (key == 0) key = 1;  // 0 marks a free slot
  for (size_t probe = 0; probe < kMaxOps; ++probe) {
    Slot& slot = slots_[(key + probe) % kMaxOps];
    uint64_t seen = slot.key.load(std::memory_order_acquire);
    if (seen == 0 && slot.key.compare_exchange_strong(
                         seen, key, std::memory_order_acq_rel)) {
      // Ours: name it. Until `named` is set a scrape skips the slot; calls
      // recorded meanwhile show in the next scrape.
      const size_t length = std::min(op.size(), kNameBytes - 1);
      std::memcpy(slot.name, op.data(), length);
      slot.name[length] = '\0';
      slot.named.store(true, std::memory_order_release);
      return slot;
    }
    // `seen` is now the slot's key, whether the load or the CAS read it.
    if (seen == key) return slot;
  }
  return slots_[kMaxOps];
}

void CallLatencies::Record(absl::string_view op, absl::Duration latency) {
  const int64_t ns = absl::ToInt64Nanoseconds(latency);
  const size_t bucket =
      std::lower_bound(bounds_ns_.begin(), bounds_ns_.end(), ns) -
      bounds_ns_.begin();
  Slot& slot = SlotOf(op);
  slot.counts[bucket].fetch_add(1, std::memory_order_relaxed);
  slot.sum_ns.fetch_add(ns, std::memory_order_relaxed);
}

std::vector<CallLatencies::OpHistogram> CallLatencies::Snapshot() const {
  std::vector<OpHistogram> histograms;
  for (size_t i = 0; i <= kMaxOps; ++i) {
    const Slot& slot = slots_[i];
    if (!slot.named.load(std::memory_order_acquire)) continue;
    OpHistogram histogram;
    histogram.counts.resize(kBuckets);
    for (size_t b = 0; b < kBuckets; ++b) {
      histogram.counts[b] = slot.counts[b].load(std::memory_order_relaxed);
      histogram.count += histogram.counts[b];
    }
    if (i == kMaxOps && histogram.count == 0) continue;  // no overflow yet
    histogram.op = slot.name;
    histogram.sum_seconds =
        static_cast<double>(slot.sum_ns.load(std::memory_order_relaxed)) / 1e9;
    histograms.push_back(std::move(histogram));
  }
  return histograms;
}

}  // namespace aoti_executor
