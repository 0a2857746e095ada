#include "server/worker_main.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/common/unique_fd.h"
#include "server/kernels/op_library.h"
#include "server/workers/output_allocator.h"
#include "server/workers/worker_loop.h"
#include "server/workers/worker_zygote.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {

namespace {

// The daemon decides when a worker ends (it closes the channel or kills it);
// a SIGTERM to the whole service must not cut its calls short.
void IgnoreServiceSignals() {
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
}

bool LimitMemory(const DaemonFlags& flags) {
  if (flags.worker_memory_limit_mb <= 0) return true;
  // An op that allocates past this gets an allocation error: one failed call
  // instead of the OOM killer choosing a victim.
  const rlim_t bytes = static_cast<rlim_t>(flags.worker_memory_limit_mb) << 20;
  const rlimit limit{bytes, bytes};
  if (setrlimit(RLIMIT_AS, &limit) != 0) {
    spdlog::error("cannot limit memory to {} MiB",
                  flags.worker_memory_limit_mb);
    return false;
  }
  return true;
}

bool LoadLibraries(const DaemonFlags& flags) {
  for (const std::string& library : flags.load_libraries) {
    if (absl::Status loaded = LoadOpLibrary(library); !loaded.ok()) {
      spdlog::critical("{}", loaded.ToString());
      return false;
    }
  }
  return true;
}

// The first op a process runs pays for ATen's lazy set-up: the CPU's
// features detected, each kernel chosen for them, the thread-local state of
// the dispatcher (about 1 ms in a worker's first call on the CI machine).
// Run once in the zygote, it is paid once: every worker forked from it
// inherits the set-up. One element: no intra-op thread starts.
void WarmUpAten() {
  const absl::Time start = absl::Now();
  {
    c10::InferenceMode inference_mode;
    const at::Tensor one = at::ones({1});
    (void)at::add(one, one);
  }
  spdlog::debug("zygote: ATen set up for the workers to come in {:.0f} us",
                absl::ToDoubleMicroseconds(absl::Now() - start));
}

// Serves the daemon on `channel` until it closes it, then exits.
[[noreturn]] void Serve(const DaemonFlags& flags, UniqueFd channel) {
  OutputAllocator::Install();
  // Never destroyed: when the daemon goes, calls still running (a hung op)
  // must not hold the exit up.
  auto* loop = new WorkerLoop(std::move(channel), flags.region_id_base,
                              static_cast<int>(flags.worker_threads));
  const int code = loop->Run();
  spdlog::default_logger()->flush();
  _exit(code);
}

}  // namespace

int RunWorker(const DaemonFlags& flags) {
  IgnoreServiceSignals();
  if (!LimitMemory(flags) || !LoadLibraries(flags)) return 1;
  Serve(flags, UniqueFd(static_cast<int>(flags.worker_fd)));
}

int RunWorkerZygote(const DaemonFlags& flags) {
  IgnoreServiceSignals();
  if (!LoadLibraries(flags)) return 1;
  WarmUpAten();
  // Told apart from its workers in ps and /proc by name only: they share its
  // command line.
  prctl(PR_SET_NAME, "aoti-zygote");
  return WorkerZygote::Serve(static_cast<int>(flags.worker_fd),
                             [&](UniqueFd channel) {
                               prctl(PR_SET_NAME, "aoti-executord");
                               if (!LimitMemory(flags)) _exit(1);
                               Serve(flags, std::move(channel));
                             });
}

}  // namespace aoti_executor
