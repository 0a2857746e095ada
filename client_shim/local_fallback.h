// The optional in-process fallback of an executor
// ($AOTI_EXECUTOR_LOCAL_FALLBACK=1, off by default): while aoti-executord
// cannot be reached, calls run here, through the same engine the daemon runs
// (KernelSet + CallWithHandles), with the same semantics.
//
// The trade-off, which is the host's to make: calls keep working through a
// daemon outage, but an op that runs here has none of the daemon's
// isolation (a crash takes the host with it, a hang has no deadline),
// custom ops need their library loaded in the host (torch.ops.load_library
// / dlopen) or the kernels cannot be resolved here, and each executor's
// kernels are parsed a second time, in the host, the first time they are
// needed.
//
// Only calls that never reached the daemon fall back (the executor has no
// session open, and an attempt to open one found the daemon unreachable); a
// call the daemon received and failed (an op error, a missed deadline, a
// crashed worker, a connection lost mid-call) is never rerun here: it may
// have run, and a crashing op must not be run again in the host.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_LOCAL_FALLBACK_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_LOCAL_FALLBACK_H_

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/kernels/kernel_set.h"

namespace aoti_executor {
namespace client {

class LocalFallback {
 public:
  // `json` (a <key>.wrapper.json's bytes, which must outlive this object),
  // for `device`; `endpoint` names the daemon in the log lines.
  LocalFallback(absl::string_view json, std::string device,
                std::string endpoint)
      : json_(json),
        device_(std::move(device)),
        endpoint_(std::move(endpoint)) {}

  // The model's kernels, parsed and resolved in this process on the first
  // use; that outcome (success or the error) is kept. Thread-safe.
  absl::StatusOr<std::shared_ptr<const KernelSet>> Kernels();

  // The kernels if they were parsed successfully already, else null.
  std::shared_ptr<const KernelSet> KernelsIfParsed();

  // Runs node `extern_node_index` in-process, because the daemon is
  // unreachable (`why`): aoti_torch_proxy_executor_call_function's contract,
  // as RemoteExecutor::Call. Logs the outage to stderr once. Thread-safe.
  absl::Status Call(const absl::Status& why, int extern_node_index,
                    int num_ints, const int64_t* ints, int num_tensors,
                    at::Tensor* const* tensors);

  // Logs to stderr, once per outage, that calls run in-process because of
  // `why`, and that the daemon is back (NoteReconnected) when they stop.
  void NoteOutage(const absl::Status& why);
  void NoteReconnected();

 private:
  const absl::string_view json_;
  const std::string device_;
  const std::string endpoint_;
  absl::Mutex mu_;  // held while parsing: others wait for that outcome
  bool parsed_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<std::shared_ptr<const KernelSet>> kernels_
      ABSL_GUARDED_BY(mu_);
  // Whether this outage has been logged.
  std::atomic<bool> in_outage_{false};
};

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_LOCAL_FALLBACK_H_
