// Workers started ahead of need: one spare, so that a new session (or one
// whose worker just died) gets a worker at once instead of waiting the half
// second a worker takes to load libtorch, which a client's deadline may not
// allow.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_WORKER_POOL_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_WORKER_POOL_H_

#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/workers/worker.h"

namespace aoti_executor {

class WorkerPool {
 public:
  // Starts the first spare in the background. `options` must outlive the
  // pool.
  explicit WorkerPool(const WorkerOptions* options);
  // Stops the background thread and the spare.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // A started worker for a session (give it one with AssignSession): the
  // spare if it is ready and alive, else one started now. Either way the
  // next spare starts in the background.
  absl::StatusOr<std::unique_ptr<Worker>> Take();

  const WorkerOptions& options() const { return *options_; }

 private:
  void KeepASpare();
  bool NeedsWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WorkerOptions* const options_;
  absl::Mutex mu_;
  std::unique_ptr<Worker> spare_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread starter_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_WORKER_POOL_H_
