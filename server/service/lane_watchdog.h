// Watches the call lanes, whose calls do not pass the daemon, so that a lane
// call fails, is timed out and is charged to quarantine exactly like a Call:
// - a lane call past its deadline (the client's, less a margin, or the
//   daemon's --call-timeout-ms) gets its worker killed;
// - so does a lane call its client gave up on (the op may still run), but
//   that is not charged to the node: the client chose when to give up;
// - once a worker is gone (CloseLane, from the worker's reader thread right
//   after it is reaped), the call in flight on its lane is answered with why,
//   naming the node that was running as the worker's watch page says (never
//   the client's memory); the crash is charged to that node unless the
//   daemon killed the worker for something else; and the lane is closed: the
//   client's next call takes the Call RPC and then a new lane;
// - lanes of a kernel set with a quarantined node are gated, in the watch
//   page, where the client cannot undo it: the worker refuses their calls,
//   which then take the Call RPC, which knows which node is quarantined.
// It polls every 5 ms while a lane is open, every 100 ms otherwise.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_LANE_WATCHDOG_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_LANE_WATCHDOG_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/daemon_stats.h"
#include "server/service/session_registry.h"
#include "server/workers/crash_tracker.h"

namespace aoti_executor {

class LaneWatchdog {
 public:
  struct Options {
    absl::Duration call_timeout = absl::Seconds(60);
    // How much earlier than its client's deadline a lane call is killed.
    absl::Duration deadline_margin = absl::Milliseconds(50);
    // A call killed at its deadline counts toward quarantine only if it had
    // at least this long to run.
    absl::Duration shortest_hang = absl::Milliseconds(100);
  };

  // `sessions` and `crashes` must outlive the watchdog. Starts its thread.
  LaneWatchdog(SessionRegistry* sessions, CrashTracker* crashes,
               const Options& options);
  ~LaneWatchdog();  // stops and joins the thread
  LaneWatchdog(const LaneWatchdog&) = delete;
  LaneWatchdog& operator=(const LaneWatchdog&) = delete;

  // Gates or ungates `lane` by the quarantine state of `session`'s kernel
  // sets, at once (a new lane), and wakes the thread so it polls quickly.
  void Adopt(const Session& session, Worker::Lane* lane);

  // `worker` (of `session`) has ended and been reaped: answers each of its
  // lanes' call in flight, if any, charges the crash where it is the node's
  // doing, and closes the lanes. Thread-safe.
  void CloseLanes(const Session& session, const Worker& worker);

 private:
  void Loop();
  // One pass over a session; true if it has an open lane.
  bool Check(const Session& session);
  // Kills the worker if the call on `lane` ran past its deadline or was
  // given up.
  void CheckCall(const Session& session, Worker* worker, Worker::Lane* lane);
  void CloseLane(const Session& session, const Worker& worker,
                 Worker::Lane* lane);
  void Gate(const Session& session, Worker::Lane* lane);
  // "extern node 3 'buf3' (ns::op)" if the session knows the node.
  std::string Describe(const Session& session, uint64_t kernel_set_id,
                       int64_t node_index) const;

  SessionRegistry* const sessions_;
  CrashTracker* const crashes_;
  const Options options_;
  DaemonStats* const stats_;  // the daemon's, from its WorkerOptions

  absl::Mutex mu_;
  absl::CondVar wake_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: it uses everything above
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_LANE_WATCHDOG_H_
