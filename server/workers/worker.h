// The daemon's handle to one worker process.
//
// First error wins: once the worker has died (crashed, was killed for a
// hang, or broke the channel), every call in flight and every later use gets
// that first reason back at once. A dead Worker is never revived; its owner
// starts a new one.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_WORKER_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_WORKER_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/executor.pb.h"
#include "server/common/daemon_stats.h"
#include "server/common/unique_fd.h"
#include "server/lane/call_lane.h"
#include "server/shm/shared_region.h"
#include "server/workers/call_watch.h"
#include "server/workers/kernel_set_image.h"
#include "server/workers/process_launcher.h"

namespace aoti_executor {

struct WorkerOptions {
  std::string binary;  // aoti-executord itself, run with --worker-fd
  std::vector<std::string> libraries;
  std::string log_level = "info";
  std::string log_format = "text";  // the daemon's --log-format
  int threads = 2;
  int64_t memory_limit_mb = 0;  // 0: no limit
  absl::Duration start_timeout = absl::Seconds(30);
  // The daemon's counters: worker deaths and restarts, and the lane calls of
  // ended workers. Must be set (Start refuses null) and outlive the workers.
  DaemonStats* stats = nullptr;
  // How worker processes are started, signalled and reaped; a test may pass
  // one that fails. Must outlive the workers.
  ProcessLauncher* launcher = ProcessLauncher::Real();
};

// The command line of a worker process of `options`.
std::vector<std::string> WorkerArgv(const WorkerOptions& options,
                                    uint64_t region_id_base);

class Worker {
 public:
  // `fd`: the memfd of a new output region.
  using OutputRegionFn =
      std::function<void(uint64_t region_id, uint64_t byte_size, UniqueFd fd)>;
  using RegionRetiredFn = std::function<void(uint64_t region_id)>;

  // Runs on the worker's reader thread once the process has ended, been
  // reaped and its death recorded (the lane watchdog closes its lanes).
  using ExitFn = std::function<void(Worker* worker)>;

  // The daemon's end of one of the worker's call lanes.
  struct Lane {
    Lane(CallLane lane, std::shared_ptr<SharedRegion> watch)
        : lane(std::move(lane)), watch_region(std::move(watch)) {}
    CallWatch* watch() const {
      return reinterpret_cast<CallWatch*>(watch_region->data());
    }

    CallLane lane;
    const std::shared_ptr<SharedRegion> watch_region;
    // Set by the daemon when it closes the lane. The lane's own `closed`
    // flag is in memory the client can write: the daemon never reads it.
    std::atomic<bool> closed{false};

    // Why the lane watchdog killed the worker, if it did.
    absl::Mutex mu;
    bool killed_for_hang ABSL_GUARDED_BY(mu) = false;
    uint64_t hung_kernel_set_id ABSL_GUARDED_BY(mu) = 0;
    int64_t hung_node_index ABSL_GUARDED_BY(mu) = 0;
    int64_t hung_run_ns ABSL_GUARDED_BY(mu) = 0;  // how long it had run

    // The lane's calls already in the daemon-wide totals (FoldLaneCounts).
    int64_t folded_succeeded = 0;
    int64_t folded_failed = 0;
  };

  // Starts a worker and waits until it has loaded the op libraries. Its
  // output regions get ids above `region_id_base`. `on_output_region` runs
  // on the worker's reader thread, before the answer that names the region
  // is delivered. If the process cannot be spawned, the launcher's error
  // (naming the binary); if it ends or says something else before it is
  // ready, Unavailable naming how it ended.
  static absl::StatusOr<std::unique_ptr<Worker>> Start(
      const WorkerOptions& options, uint64_t region_id_base,
      OutputRegionFn on_output_region);

  // Stops the worker (closes its channel; SIGKILL if it lingers) and reaps it.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Gives a started worker (a spare) to a session: its output regions get ids
  // above `region_id_base`, and `on_output_region` replaces the one given to
  // Start. Before anything else is sent.
  absl::Status AssignSession(uint64_t region_id_base,
                             OutputRegionFn on_output_region,
                             RegionRetiredFn on_region_retired, ExitFn on_exit);

  // Sends the worker a set the daemon has parsed; the worker resolves each
  // node on its first call.
  absl::Status RegisterKernelSet(uint64_t kernel_set_id,
                                 const KernelSetImage& image);
  absl::Status MapRegion(uint64_t region_id, const SharedRegion& region);
  absl::Status UnmapRegion(uint64_t region_id);

  // Runs `request` and waits for its answer until `deadline`. Past it, the
  // worker is killed (a hung op cannot be stopped any other way) and the
  // call fails with DeadlineExceeded. If the worker dies, Aborted, naming
  // `description` (the node) and how it died.
  absl::StatusOr<aoti::executor::v1::CallResponse> Call(
      const aoti::executor::v1::CallRequest& request,
      const std::string& description, absl::Time deadline);

  // SIGKILLs the worker; calls in flight, and every later one, fail with
  // Aborted naming `reason` (or the first reason the worker died of, if it
  // had already). The reader thread reaps the process.
  void Kill(const std::string& reason);

  // A new call lane of the worker, sent to it (which serves it on a thread
  // of its own); lives as long as this object. ResourceExhausted once the
  // worker has `max_lanes`.
  absl::StatusOr<Lane*> AddLane(size_t max_lanes);
  // The lanes made so far, oldest first.
  std::vector<Lane*> lanes() const;
  // Waits until the worker has applied every message sent before (regions,
  // kernel sets), so a client may name them over the lane.
  absl::Status Sync(absl::Time deadline);
  // Adds the lane calls answered since the last fold to the daemon-wide
  // counters (DaemonStats::lane_calls_*). Status sums live workers' watch
  // pages, so an owner folds a worker as it stops counting it there; the
  // destructor folds what came after.
  void FoldLaneCounts();
  // Why the daemon killed the worker; empty if it did not (it crashed,
  // exited, or still runs).
  std::string kill_reason() const;

  pid_t pid() const { return pid_; }
  // Output bytes the client holds in this worker's regions, as of its latest
  // answer.
  uint64_t output_bytes_in_use() const;
  uint64_t output_bytes_copied() const;
  // OK while the worker lives; then why it died.
  absl::Status death() const;

 private:
  struct PendingCall;

  Worker(pid_t pid, UniqueFd channel, OutputRegionFn on_output_region,
         const WorkerOptions& options);
  absl::Status WaitUntilReady(absl::Time deadline);
  // Waits (2 s at most, then SIGKILL) for the process to end and reaps it;
  // how it ended, "exited with status 1". Once only: the pid may be
  // someone else's afterwards.
  std::string Reap();
  absl::StatusOr<int> WaitForExit();
  void ReadLoop();
  // Records the first reason for death and fails every pending call.
  void Die(const absl::Status& reason);
  absl::Status Send(const google::protobuf::MessageLite& message, int fd = -1);
  void FoldLaneCountsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const pid_t pid_;
  const UniqueFd channel_;
  DaemonStats* const stats_;
  ProcessLauncher* const launcher_;
  std::thread reader_;
  std::atomic<uint64_t> output_bytes_in_use_{0};
  std::atomic<uint64_t> output_bytes_copied_{0};
  absl::Mutex send_mu_;

  mutable absl::Mutex mu_;
  OutputRegionFn on_output_region_ ABSL_GUARDED_BY(mu_);
  RegionRetiredFn on_region_retired_ ABSL_GUARDED_BY(mu_);
  ExitFn on_exit_ ABSL_GUARDED_BY(mu_);
  // Held while a lane is made and sent (not mu_: sending may block).
  absl::Mutex add_lane_mu_;
  std::vector<std::unique_ptr<Lane>> lanes_ ABSL_GUARDED_BY(mu_);
  uint64_t next_call_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, PendingCall*> pending_ ABSL_GUARDED_BY(mu_);
  absl::Status death_ ABSL_GUARDED_BY(mu_);
  std::string kill_reason_ ABSL_GUARDED_BY(mu_);
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;
  // The reap found it ended by a signal (which, unless the daemon sent it,
  // is a crash).
  bool died_of_signal_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // the destructor runs
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_WORKER_H_
