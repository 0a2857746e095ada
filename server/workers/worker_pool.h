// Workers started ahead of need: spares, so that a new session (or one whose
// worker just died) gets a worker at once. Workers are forked from a zygote
// (worker_zygote.h) in milliseconds, so that sessions that come faster than
// the spares are replaced do not wait the 0.15-0.5 s a worker takes to load
// libtorch from the binary, which a client's deadline may not allow. Even a
// fork takes 4-10 ms on two loaded CPUs, longer than a create of a model the
// daemon has: with one spare, every other create of a burst (a server that
// loads its models, executors reconnecting after a restart) waited for one.
// An idle spare costs a process and under a megabyte of its own memory (the
// rest is the zygote's, shared).
// At shutdown the pool stops starting workers (StopStarting), so that a
// draining daemon starts none.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_WORKER_POOL_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_WORKER_POOL_H_

#include <sys/types.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/workers/process_launcher.h"
#include "server/workers/worker.h"
#include "server/workers/worker_zygote.h"

namespace aoti_executor {

class WorkerPool {
 public:
  // Starts `spares` spares in the background, one after another (0: none;
  // each session starts its own worker). `options` must outlive the pool,
  // and the pool the workers it gives (spares use its launcher).
  WorkerPool(const WorkerOptions* options, size_t spares);
  // StopStarting(), then joins the background thread.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // A started worker for a session (give it one with AssignSession): the
  // oldest spare that is ready and alive, else one started now. Either way
  // a spare to replace it starts in the background. Unavailable after
  // StopStarting.
  absl::StatusOr<std::unique_ptr<Worker>> Take();

  // Waits until every spare is ready, for the daemon to say it is ready
  // (and to start none after that until a session takes one). False if they
  // are not by `deadline` (spares keep failing to start: the log says why)
  // or after StopStarting.
  bool WaitForSpares(absl::Time deadline);

  // For the drain at SIGTERM: from now on no worker starts. A spare being
  // started is killed (quietly), the spares are stopped, and Take() fails.
  // Workers already given to sessions are theirs to stop. Idempotent.
  void StopStarting();

  const WorkerOptions& options() const { return *options_; }

 private:
  // The launcher of spares: the real one, but it remembers the process that
  // is starting, so that StopStarting can kill it rather than wait the half
  // second it takes to start (and log) a worker nobody will use.
  class SpareLauncher final : public ProcessLauncher {
   public:
    explicit SpareLauncher(ProcessLauncher* real) : real_(real) {}
    absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                                int child_fd) override;
    absl::Status Kill(pid_t pid, int signal) override;
    absl::StatusOr<std::optional<int>> TryWait(pid_t pid) override;
    absl::StatusOr<int> Wait(pid_t pid) override;
    // The spawned process has started, or failed to: forget it.
    void Started();
    // Refuses every later Spawn and kills the process that is starting.
    void Refuse();

   private:
    ProcessLauncher* const real_;
    absl::Mutex mu_;
    std::optional<pid_t> starting_ ABSL_GUARDED_BY(mu_);
    bool refused_ ABSL_GUARDED_BY(mu_) = false;
  };

  void KeepSpares();
  // Moves DaemonStats::spare_workers with spares_.
  void CountSpares(int64_t delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool NeedsWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SparesOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WorkerOptions* const options_;
  // Forks the workers when options_ has the real launcher (a test's
  // launcher is used as it is).
  std::unique_ptr<ZygoteLauncher> zygote_launcher_;
  WorkerOptions take_options_;  // *options_ with the zygote launcher
  SpareLauncher spare_launcher_;
  WorkerOptions spare_options_;  // *options_ with spare_launcher_
  absl::Mutex mu_;
  const size_t spare_count_;
  std::deque<std::unique_ptr<Worker>> spares_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread starter_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_WORKER_POOL_H_
