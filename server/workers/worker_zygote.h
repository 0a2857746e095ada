// Workers forked from a zygote: a process that has loaded libtorch and the
// op libraries once, and forks a ready worker on request in milliseconds,
// where starting one from the binary takes 0.15-0.5 s (loading and
// relocating libtorch). Creates in quick succession, and a worker replaced
// after a crash, then cost what a spare costs. Chromium starts its renderers
// and Android its apps the same way.
//
// The zygote is a child of the daemon started like a worker (the same argv
// with --worker-zygote), single-threaded, and runs no client's op (only a
// one-element add at its start, so that its workers inherit ATen's lazy
// set-up: worker_main.cc). It forks each worker through a short-lived
// middle process, so that the worker is re-parented to the daemon, which
// makes itself a child subreaper for that:
// the daemon signals and reaps a forked worker like a spawned one. Orphans of
// a worker's own children come to the daemon too (and stay zombies: an op
// that starts processes should wait for them).
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_WORKER_ZYGOTE_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_WORKER_ZYGOTE_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/unique_fd.h"
#include "server/workers/process_launcher.h"

namespace aoti_executor {

class WorkerZygote {
 public:
  // Spawns the zygote with `argv` (a worker's, with --worker-zygote) and
  // waits until it is ready; an error says why it is not (it died, or it
  // found itself with threads after loading the op libraries, which makes
  // forking unsafe).
  static absl::StatusOr<std::unique_ptr<WorkerZygote>> Start(
      const std::vector<std::string>& argv, absl::Duration timeout);
  // Closes the channel (the zygote exits), and reaps the zygote.
  ~WorkerZygote();
  WorkerZygote(const WorkerZygote&) = delete;
  WorkerZygote& operator=(const WorkerZygote&) = delete;

  // A new worker, with `child_fd` as its fd 3, a child of this process.
  absl::StatusOr<pid_t> Fork(int child_fd);

  pid_t pid() const { return pid_; }

  // The zygote's side: tells the daemon it is ready on `channel`, then forks
  // a worker for each request until the daemon closes the channel. Each
  // worker runs `become_worker(3)` with its channel on fd 3 and nothing of
  // the zygote's; it must not return. Returns the zygote's exit code.
  static int Serve(int channel,
                   const std::function<void(UniqueFd)>& become_worker);

 private:
  WorkerZygote(pid_t pid, UniqueFd channel)
      : pid_(pid), channel_(std::move(channel)) {}

  const pid_t pid_;
  const UniqueFd channel_;
  absl::Mutex mu_;  // one fork request at a time
};

// The launcher of the daemon's workers: forks them from a zygote, and spawns
// them from the binary (ProcessLauncher::Real) when a zygote cannot serve:
// an argv other than the one it was started for, or a zygote that failed to
// start (retried after a while) or died.
class ZygoteLauncher final : public ProcessLauncher {
 public:
  // `worker_argv`: the argv of the workers the zygote forks.
  ZygoteLauncher(std::vector<std::string> worker_argv,
                 absl::Duration start_timeout);

  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                              int child_fd) override;
  absl::Status Kill(pid_t pid, int signal) override;
  absl::StatusOr<std::optional<int>> TryWait(pid_t pid) override;
  absl::StatusOr<int> Wait(pid_t pid) override;

  // The zygote's pid, if one is up.
  std::optional<pid_t> zygote_pid();

 private:
  const std::vector<std::string> worker_argv_;
  const absl::Duration start_timeout_;
  absl::Mutex mu_;
  std::unique_ptr<WorkerZygote> zygote_ ABSL_GUARDED_BY(mu_);
  absl::Time next_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_WORKER_ZYGOTE_H_
