#include "server/worker_main.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/kernels/op_library.h"
#include "server/workers/output_allocator.h"
#include "server/workers/worker_loop.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

int RunWorker(const DaemonFlags& flags) {
  // The daemon decides when a worker ends (it closes the channel or kills
  // it); a SIGTERM to the whole service must not cut its calls short.
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  if (flags.worker_memory_limit_mb > 0) {
    // An op that allocates past this gets an allocation error: one failed
    // call instead of the OOM killer choosing a victim.
    const rlim_t bytes = static_cast<rlim_t>(flags.worker_memory_limit_mb)
                         << 20;
    const rlimit limit{bytes, bytes};
    if (setrlimit(RLIMIT_AS, &limit) != 0) {
      spdlog::error("cannot limit memory to {} MiB",
                    flags.worker_memory_limit_mb);
      return 1;
    }
  }
  for (const std::string& library : flags.load_libraries) {
    if (absl::Status loaded = LoadOpLibrary(library); !loaded.ok()) {
      spdlog::critical("{}", loaded.ToString());
      return 1;
    }
  }
  OutputAllocator::Install();
  // Never destroyed: when the daemon goes, calls still running (a hung op)
  // must not hold the exit up.
  auto* loop =
      new WorkerLoop(static_cast<int>(flags.worker_fd), flags.region_id_base,
                     static_cast<int>(flags.worker_threads));
  const int code = loop->Run();
  spdlog::default_logger()->flush();
  _exit(code);
}

}  // namespace aoti_executor
