// Starting and describing child processes (the workers).
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_PROCESS_SPAWN_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_PROCESS_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace aoti_executor {

// Starts argv[0] with `argv`, `child_fd` as its fd 3, no other fd but 0-2,
// and no signal blocked. posix_spawn, not fork: the daemon is multithreaded.
absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& argv,
                                   int child_fd);

// "SIGSEGV", or "signal 77" for a number without a name.
std::string SignalName(int signal_number);

// "exited with status 3", "died of SIGSEGV (Segmentation fault)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_PROCESS_SPAWN_H_
