// The object behind an AOTIProxyExecutorHandle: a model's extern kernels,
// registered with aoti-executord, and the calls into them: each call's
// checks, the session it runs in (kept open by a Reconnector), the failed
// calls take_failure reports, and the optional in-process fallback
// (docs/client.md). It is a torch::aot_inductor::ProxyExecutor, so its
// handle can be passed straight to AOTInductorModelContainerRun.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_

#include <torch/csrc/inductor/aoti_torch/proxy_executor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aoti_remote/executor.h"
#include "client_shim/failed_calls.h"
#include "client_shim/local_fallback.h"
#include "client_shim/options.h"
#include "client_shim/session/reconnector.h"
#include "client_shim/session/sealed_json.h"
#include "client_shim/session/session.h"
#include "proto/executor.pb.h"

namespace aoti_executor {
namespace client {

using ExecutorBase = torch::aot_inductor::ProxyExecutor;

class RemoteExecutor final : public ExecutorBase {
 public:
  // Reads the JSON at `json_path`, then opens a session with the daemon
  // (waiting up to the connect timeout for it) and registers the JSON. With
  // the local fallback on, a daemon that cannot be reached is no failure:
  // the JSON is parsed in-process instead, and calls run here until the
  // daemon is back.
  static absl::StatusOr<std::unique_ptr<RemoteExecutor>> Create(
      ExecutorOptions options, const std::string& json_path);

  ~RemoteExecutor() override;

  // aoti_torch_proxy_executor_call_function's contract: `tensors` holds the
  // input tensors, then the output handles (at::Tensor*), which are assigned
  // only on success; `ints` the input ints, then the int outputs. Checks the
  // index and the counts against the node before anything is sent.
  // Thread-safe. A failure is also noted for TakeFailure.
  absl::Status Call(int extern_node_index, int num_ints, const int64_t* ints,
                    int num_tensors, AtenTensorHandle* tensors);

  // The first failure of a call made on this thread since this thread last
  // asked (OK if none), and forgets it: see aoti_remote_executor_take_failure.
  absl::Status TakeFailure() { return TakeFailedCall(id_); }

  // ProxyExecutor: Call, throwing std::runtime_error on failure (after
  // setting aoti_remote_last_error()), as libtorch's caller expects.
  void call_function(int extern_node_index, int num_ints,
                     int64_t* flatten_int_args, int num_tensors,
                     AtenTensorHandle* flatten_tensor_args) override;

  // The C handle of this executor, and back. The handle points at the
  // ExecutorBase subobject, which is what libtorch casts it to.
  AOTIProxyExecutorHandle handle() {
    return reinterpret_cast<AOTIProxyExecutorHandle>(
        static_cast<ExecutorBase*>(this));
  }
  static RemoteExecutor* FromHandle(AOTIProxyExecutorHandle handle) {
    return static_cast<RemoteExecutor*>(
        reinterpret_cast<ExecutorBase*>(handle));
  }

  const ExecutorOptions& options() const { return options_; }
  // The number of extern nodes (the daemon's count, or the local fallback's
  // while no daemon has been reached; 0 if neither is known yet).
  size_t num_nodes() const;
  // The session calls use now; if the current one ended, the next one,
  // waited for as a call waits (for tests and status).
  absl::StatusOr<std::shared_ptr<Session>> CurrentSession(absl::Time deadline);

 private:
  RemoteExecutor(ExecutorOptions options, std::string json_path,
                 std::shared_ptr<const SealedJson> json);

  // Session::Open for a reconnect; never throws.
  absl::StatusOr<std::shared_ptr<Session>> OpenSession(
      OpenCanceller* canceller);
  // Whether a failed call may have run in the daemon, or reached it, without
  // the client knowing: a missed deadline or a lost connection. Such a call
  // may have allocated output blocks the client never heard of, or lost the
  // releases it carried, and resending those could free a block that was
  // handed out again.
  static bool MayHaveRunUnseen(const absl::Status& status);
  // Call, less the noting of failures.
  absl::Status CallOnce(int extern_node_index, int num_ints,
                        const int64_t* ints, int num_tensors,
                        AtenTensorHandle* tensors);
  const uint64_t id_ = NewExecutorId();
  const ExecutorOptions options_;
  const std::string json_path_;
  // Kept to re-register in a new session; shared with RegistrationMemo.
  const std::shared_ptr<const SealedJson> json_;
  // Null unless the host asked for the local fallback.
  const std::unique_ptr<LocalFallback> fallback_;
  // Last: its thread calls OpenSession, which uses the members above.
  Reconnector reconnector_;
};

// The bytes of the file at `path`; NotFound / PermissionDenied / ...
// naming the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_
