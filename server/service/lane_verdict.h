// The lane watchdog's rules, apart from its thread and the objects it walks,
// so each is tested on its own (tests/service/lane_verdict_test.cc):
// when a lane call counts as hung, and, when a worker is gone, what the call
// that was in flight on its lane is answered and whether its node is charged
// with a crash (which may quarantine it). The Call RPC follows the same rules
// in ExecutorService::RunCall.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_LANE_VERDICT_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_LANE_VERDICT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace aoti_executor {

// The monotonic time (ns) past which a lane call that started at
// `started_ns` with its client's deadline `deadline_ns` is hung: its
// client's deadline less `margin` (so the client hears why, and in time),
// or `call_timeout` after it started, whichever is first. Saturates.
int64_t LaneCallLimitNs(int64_t started_ns, int64_t deadline_ns,
                        absl::Duration margin, absl::Duration call_timeout);

// What is known of a lane when its worker is gone.
struct ClosedLaneFacts {
  absl::Status death;             // why the worker ended (never OK)
  pid_t pid = 0;                  // the worker's
  bool killed_by_daemon = false;  // for any reason (a hang, a client gone)
  // The watchdog killed the worker for this lane's call, which had run
  // `hung_run_ns` by its limit.
  bool hung = false;
  int64_t hung_run_ns = 0;
  // Otherwise: a call was running on the lane when the worker ended.
  bool running = false;
  // The node of the hung or running call: "extern node 3 'buf3' (ns::op)".
  std::string node;
};

struct ClosedLaneVerdict {
  absl::Status answer;  // what the lane's client reads
  // Record a crash of the node: it hung for long enough to count, or its
  // worker died of its own accord while it ran (not killed by the daemon
  // for something else, not stopped because the session ended).
  bool charge_node = false;
};

ClosedLaneVerdict JudgeClosedLane(const ClosedLaneFacts& facts,
                                  absl::Duration shortest_hang);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_LANE_VERDICT_H_
