// The worker process: runs one session's calls, isolated from the daemon.
//
// It reads ToWorker messages from its channel in order (kernel sets and
// regions before the calls that use them), runs calls on a pool of threads,
// and answers each with a CallResult; calls posted on the session's call
// lanes run on each lane's LaneServer thread instead. Output tensors go into
// output regions it creates and announces (OutputRegion, with the memfd) before
// the first answer that names them. When the daemon closes the channel the
// worker exits: it never outlives the daemon.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_WORKER_LOOP_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_WORKER_LOOP_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "proto/worker.pb.h"
#include "server/kernels/lazy_kernel_set.h"
#include "server/shm/output_arena.h"
#include "server/shm/region_table.h"
#include "server/workers/lane_server.h"
#include "server/workers/thread_pool.h"

namespace aoti_executor {

class WorkerLoop {
 public:
  // `channel`: the worker's end of the socketpair. Output regions get
  // ids region_id_base + 1, + 2, ...: the daemon gives each worker its own
  // range (here, or in AssignSession for a spare), so ids stay unique across
  // restarts.
  WorkerLoop(UniqueFd channel, uint64_t region_id_base, int num_threads);

  // Serves until the daemon closes the channel; returns the exit code.
  int Run();

 private:
  // `fd`, if it came with a message that takes none, is closed here.
  void Handle(const aoti::executor::worker::v1::ToWorker& message, UniqueFd fd);
  absl::Status RegisterKernelSet(
      const aoti::executor::worker::v1::RegisterKernelSet& request,
      UniqueFd fd);
  absl::Status MapRegion(const aoti::executor::worker::v1::MapRegion& request,
                         UniqueFd fd);
  // Serves one more call lane, whose memfd is `fd`, watched through the
  // page received just before it.
  absl::Status OpenLane(const aoti::executor::worker::v1::OpenLane& request,
                        UniqueFd fd);
  absl::Status AdoptWatchPage(
      const aoti::executor::worker::v1::WatchPage& request, UniqueFd fd);
  void RunCall(const aoti::executor::worker::v1::RunCall& call);
  // Runs `request` (releases first, then the node, if any) to a CallResult.
  aoti::executor::worker::v1::CallResult Run(
      const aoti::executor::v1::CallRequest& request);
  // Frees the owned output blocks of an answer that will not be delivered.
  void Discard(const aoti::executor::v1::CallResponse& response);
  absl::Status Execute(const aoti::executor::v1::CallRequest& request,
                       aoti::executor::v1::CallResponse* response);
  // Frees an output block the client released.
  absl::Status ReleaseBlock(uint64_t region_id, uint64_t offset);
  absl::Status Send(const aoti::executor::worker::v1::FromWorker& message,
                    int fd = -1);
  absl::StatusOr<uint64_t> PublishOutputRegion(
      std::shared_ptr<SharedRegion> region);
  void RetireOutputRegion(uint64_t region_id);

  const UniqueFd channel_;
  std::atomic<uint64_t> region_id_base_;
  std::atomic<uint64_t> next_region_number_{1};
  // Bytes of outputs copied into the arena (the rest went there directly).
  std::atomic<uint64_t> output_bytes_copied_{0};
  absl::Mutex send_mu_;  // one packet at a time on the channel

  absl::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<const LazyKernelSet>> kernel_sets_
      ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> retired_regions_ ABSL_GUARDED_BY(mu_);

  RegionTable regions_;
  OutputArena arena_;
  ThreadPool pool_;  // its threads use everything above
  std::shared_ptr<SharedRegion> watch_page_;  // for the next OpenLane
  std::atomic<CallWatch*> watch_{nullptr};    // the first lane's page
  // One per call lane, each with its thread; last: stopped first.
  std::vector<std::unique_ptr<LaneServer>> lane_servers_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_WORKER_LOOP_H_
