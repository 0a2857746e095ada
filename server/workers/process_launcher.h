// The system calls that start, signal and reap worker processes, behind an
// interface (as Envoy's Api::OsSysCalls) so that a test can make one of them
// fail and see what Worker does about it.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_PROCESS_LAUNCHER_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_PROCESS_LAUNCHER_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aoti_executor {

class ProcessLauncher {
 public:
  // posix_spawn, kill and waitpid themselves. Stateless and thread-safe;
  // never destroyed.
  static ProcessLauncher* Real();

  virtual ~ProcessLauncher() = default;

  // Starts argv[0] with `argv`, `child_fd` as its fd 3, no other fd but 0-2
  // and no signal blocked (SpawnProcess). An error names argv[0] and why.
  virtual absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                                      int child_fd) = 0;

  // Sends `signal` to `pid`.
  virtual absl::Status Kill(pid_t pid, int signal) = 0;

  // Reaps `pid` if it has ended and returns its wait status; nullopt while it
  // still runs. Never blocks.
  virtual absl::StatusOr<std::optional<int>> TryWait(pid_t pid) = 0;

  // Waits until `pid` ends, reaps it and returns its wait status.
  virtual absl::StatusOr<int> Wait(pid_t pid) = 0;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_PROCESS_LAUNCHER_H_
