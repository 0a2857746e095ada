// What the daemon knows of itself at one moment, for a /metrics scrape: the
// numbers GetStatus reports, split by path and cause where the metrics need
// it. ExecutorService::Snapshot fills it from DaemonStats and the live
// sessions; nothing here is counted twice.
#ifndef AOTI_EXECUTOR_SERVER_METRICS_DAEMON_SNAPSHOT_H_
#define AOTI_EXECUTOR_SERVER_METRICS_DAEMON_SNAPSHOT_H_

#include <cstdint>

namespace aoti_executor {

struct DaemonSnapshot {
  double uptime_seconds = 0;
  int64_t sessions = 0;
  int64_t kernel_sets = 0;    // registered, in the cache
  int64_t workers = 0;        // sessions' workers alive (not spares)
  int64_t spare_workers = 0;  // ready for new sessions
  int64_t call_lanes = 0;     // open

  // Calls by path and outcome, since the daemon started. Lane calls of live
  // workers come from their watch pages, of ended ones from DaemonStats.
  int64_t rpc_calls_succeeded = 0;
  int64_t rpc_calls_failed = 0;
  int64_t rpc_calls_in_flight = 0;
  int64_t lane_calls_succeeded = 0;
  int64_t lane_calls_failed = 0;
  int64_t lane_calls_in_flight = 0;

  int64_t worker_restarts = 0;
  int64_t worker_deaths_crashed = 0;
  int64_t worker_deaths_exited = 0;
  int64_t worker_deaths_killed = 0;

  int64_t crashed_nodes = 0;  // with a crash or hang within the window
  int64_t quarantined_nodes = 0;

  // Shared memory: client regions and workers' output regions mapped, and
  // their bytes; output bytes the clients hold, and output bytes the live
  // workers copied into their arenas (since each started).
  int64_t regions = 0;
  int64_t mapped_bytes = 0;
  int64_t output_bytes_in_use = 0;
  int64_t output_bytes_copied = 0;

  // Connections the peer policy refused, by socket (DaemonStats).
  int64_t peers_refused_grpc = 0;
  int64_t peers_refused_attach = 0;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_METRICS_DAEMON_SNAPSHOT_H_
