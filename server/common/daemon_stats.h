// The daemon's counters: what GetStatus reports (and, later, Prometheus
// scrapes) that is not a sum over the live sessions.
//
// One object, owned by the daemon's Run() and handed by pointer to the
// workers (WorkerOptions::stats) and the service; a test passes its own.
// Updates are relaxed atomic adds: no counter publishes other memory, a
// reader wants a recent value and no ordering, and an update must stay cheap
// enough for every call (no lock, no allocation).
#ifndef AOTI_EXECUTOR_SERVER_COMMON_DAEMON_STATS_H_
#define AOTI_EXECUTOR_SERVER_COMMON_DAEMON_STATS_H_

#include <atomic>
#include <cstdint>

namespace aoti_executor {

struct DaemonStats {
  using Counter = std::atomic<int64_t>;

  // Adds `delta` to `counter` (negative only for the in-flight gauge).
  static void Add(Counter& counter, int64_t delta = 1) {
    counter.fetch_add(delta, std::memory_order_relaxed);
  }
  static int64_t Read(const Counter& counter) {
    return counter.load(std::memory_order_relaxed);
  }

  // Call RPCs answered OK (lane calls are not Call RPCs).
  Counter rpc_calls_succeeded{0};
  // Call RPCs answered with an error, whatever its code.
  Counter rpc_calls_failed{0};
  // Call RPCs running now (a gauge: up as one starts, down as it ends).
  Counter rpc_calls_in_flight{0};

  // Workers that died on their own (crashed, exited) or were killed by the
  // daemon (a hung call, Worker::Kill); once per worker, as its death is
  // first recorded. Workers stopped because their session ended, and
  // workers that failed to start, are not counted.
  Counter worker_deaths{0};
  // worker_deaths by cause, for the metrics: died of a signal the daemon did
  // not send (a crash), exited by itself, or killed by the daemon (a call
  // past its deadline, or its lane client gave up).
  Counter worker_deaths_crashed{0};
  Counter worker_deaths_exited{0};
  Counter worker_deaths_killed{0};
  // Workers started to replace a session's worker that had died.
  Counter worker_restarts{0};
  // Spare workers ready for new sessions now (a gauge; WorkerPool).
  Counter spare_workers{0};

  // Calls over call lanes, of workers that are no longer counted live: the
  // live ones count their own in their watch pages, and a worker's count
  // moves here as it leaves its session or ends (Worker::FoldLaneCounts).
  Counter lane_calls_succeeded{0};
  // Likewise, failed; plus the lane calls the daemon failed itself because
  // their worker had died.
  Counter lane_calls_failed{0};

  // Connections the peer policy refused (server/service/peer_policy.h), by
  // socket: the gRPC Unix sockets and the attach socket. A client refused on
  // gRPC never reaches the attach socket, so each refused client counts once.
  Counter peers_refused_grpc{0};
  Counter peers_refused_attach{0};
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_DAEMON_STATS_H_
