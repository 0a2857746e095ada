// Quarantine for nodes that keep crashing or hanging their worker.
//
// Restarting forever after each crash is what Triton's users complained of;
// Chromium's GPU process forgives one crash per interval and gives up after a
// few. Here: a node with `max_crashes` crashes or hangs within `window`
// fails fast, without a worker being risked, until fewer than `max_crashes`
// of its crashes lie within the last `window` (the window slides) or an
// operator clears it. Nodes are keyed by kernel
// set content, so every client of one model shares the verdict.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_CRASH_TRACKER_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_CRASH_TRACKER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aoti_executor {

class CrashTracker {
 public:
  CrashTracker(int max_crashes, absl::Duration window)
      : max_crashes_(max_crashes), window_(window) {}

  struct NodeRecord {
    std::string kernel_set_hash;
    int64_t node_index = 0;
    std::string description;  // "extern node 3 (ns::op)"
    int crashes_in_window = 0;
    bool quarantined = false;
    std::string last_error;
  };

  // Records that node `node_index` of the kernel set with content hash
  // `kernel_set_hash` crashed or hung its worker with `error`.
  void RecordCrash(const std::string& kernel_set_hash, int64_t node_index,
                   const std::string& description, const absl::Status& error,
                   absl::Time now = absl::Now());

  // FailedPrecondition, naming the node, its crashes and when it will be
  // tried again, while the node is quarantined.
  absl::Status CheckAllowed(const std::string& kernel_set_hash,
                            int64_t node_index, absl::Time now = absl::Now());

  // True while any node of the kernel set with `kernel_set_hash` is
  // quarantined.
  bool AnyQuarantined(const std::string& kernel_set_hash,
                      absl::Time now = absl::Now());

  // Forgets every crash (an operator's ClearQuarantine); returns how many
  // nodes were quarantined.
  int Clear(absl::Time now = absl::Now());

  // Every node with a crash in the window, for GetStatus.
  std::vector<NodeRecord> Snapshot(absl::Time now = absl::Now());

 private:
  struct Entry {
    std::string description;
    std::deque<absl::Time> crashes;  // oldest first, within the window
    std::string last_error;
  };
  using Key = std::pair<std::string, int64_t>;

  void Expire(Entry& entry, absl::Time now) const;

  const int max_crashes_;
  const absl::Duration window_;
  absl::Mutex mu_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_CRASH_TRACKER_H_
