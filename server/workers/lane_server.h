// The worker's end of its session's call lane: a thread that takes each
// posted call, runs it inline (no hand-off to the pool: a thread wake-up
// costs more than a small op) and writes the answer.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_LANE_SERVER_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_LANE_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "proto/worker.pb.h"
#include "server/lane/call_lane.h"
#include "server/shm/shared_region.h"
#include "server/workers/call_watch.h"

namespace aoti_executor {

class LaneServer {
 public:
  // Runs a call; every failure is in the result's code and message.
  using RunFn = std::function<aoti::executor::worker::v1::CallResult(
      const aoti::executor::v1::CallRequest&)>;
  // Frees the output blocks of an answer the client will never read.
  using DiscardFn =
      std::function<void(const aoti::executor::v1::CallResponse&)>;

  // Serves `lane`, showing each call in `watch` (a CallWatch page).
  LaneServer(CallLane lane, std::shared_ptr<SharedRegion> watch, RunFn run,
             DiscardFn discard);
  ~LaneServer();  // stops the thread after the call it runs, if any
  LaneServer(const LaneServer&) = delete;
  LaneServer& operator=(const LaneServer&) = delete;

 private:
  void Serve();
  void Handle(const std::string& request_bytes, int64_t deadline_ns);

  CallLane lane_;
  const std::shared_ptr<SharedRegion> watch_region_;
  CallWatch* const watch_;
  const RunFn run_;
  const DiscardFn discard_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_LANE_SERVER_H_
