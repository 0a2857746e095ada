// The worker process's entry: `aoti-executord --worker-fd=3 ...`, started by
// the daemon (never by hand).
#ifndef AOTI_EXECUTOR_SERVER_WORKER_MAIN_H_
#define AOTI_EXECUTOR_SERVER_WORKER_MAIN_H_

#include "server/daemon_flags.h"

namespace aoti_executor {

// Loads the op libraries, applies the memory limit, and serves the daemon
// until it closes the channel. Returns the exit code.
int RunWorker(const DaemonFlags& flags);

// `--worker-fd=3 --worker-zygote=true`: loads the op libraries once, then forks
// a worker for each request of the daemon (WorkerZygote). Returns the exit
// code.
int RunWorkerZygote(const DaemonFlags& flags);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKER_MAIN_H_
