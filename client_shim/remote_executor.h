// The object behind an AOTIProxyExecutorHandle: a model's extern kernels,
// registered with aoti-executord, and the calls into them.
//
// It owns the model's JSON and options and the current Session. When the
// daemon goes away, or a call misses its deadline or loses its connection
// (so that the daemon's and the client's view of the session's output blocks
// may differ), the session is over, and a reconnect thread of the executor
// opens a new one (Hello, attach socket, RegisterKernelSet): at once, then,
// while calls keep wanting one, once per ReconnectBackoff window, until it
// succeeds or the executor is deleted. Calls never connect themselves: one
// that finds no session waits for the attempt in progress, or for the one
// due at the end of the backoff window, bounded by its deadline; if the
// window ends after its deadline, it fails at once. A registration slower
// than a call's deadline thus still completes, for the next call. Nothing
// holds the executor's lock across a connect. With
// the host's LocalFallback on, a call that finds no session because an
// attempt found the daemon unreachable runs in-process instead of waiting.
// It is a torch::aot_inductor::ProxyExecutor, so its handle can be passed
// straight to AOTInductorModelContainerRun.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_

#include <torch/csrc/inductor/aoti_torch/proxy_executor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aoti_remote/executor.h"
#include "client_shim/failed_calls.h"
#include "client_shim/local_fallback.h"
#include "client_shim/options.h"
#include "client_shim/session/reconnect_backoff.h"
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
                 std::string json);

  Session::Nodes nodes() const;
  // The current session, or, if it is over, the one the reconnect thread
  // opens (see the comment at the top). On failure, `*unreachable` says
  // whether the daemon could not be reached at all, so that the call never
  // got to it, which is when a call may fall back. With `fail_fast` (the
  // fallback is on), never waits once an attempt has found the daemon
  // unreachable.
  absl::StatusOr<std::shared_ptr<Session>> AcquireSession(absl::Time deadline,
                                                          bool fail_fast,
                                                          bool* unreachable);
  // Starts the reconnect thread unless it runs (or the executor is being
  // deleted).
  absl::Status StartReconnectingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reconnect thread: attempts, spaced by backoff_, while calls want a
  // session, until one succeeds or stopping_.
  void ReconnectLoop();
  // Session::Open for a reconnect; never throws.
  absl::StatusOr<std::shared_ptr<Session>> OpenSession(
      OpenCanceller* canceller);
  // Whether a failure to open a session means the daemon was not reached:
  // nothing listens, it does not answer in time, or it went away meanwhile.
  static bool IsUnreachable(const absl::Status& status);
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
  // Ends `session` if it is still the current one, and starts reconnecting.
  // The daemon frees every block of a session when its attach socket closes
  // (once the calls in flight on it let go); outputs the client holds keep
  // their memory.
  void Retire(const std::shared_ptr<Session>& session);

  const uint64_t id_ = NewExecutorId();
  const ExecutorOptions options_;
  const std::string json_path_;
  const std::string json_;  // kept to re-register in a new session
  // Null unless the host asked for the local fallback.
  const std::unique_ptr<LocalFallback> fallback_;
  // Guards the state below, never held across a connect attempt.
  mutable absl::Mutex mu_;
  std::shared_ptr<Session> session_ ABSL_GUARDED_BY(mu_);
  // The nodes of the latest session, for checks that need no daemon; null
  // while no daemon has been reached (the local fallback's create).
  Session::Nodes nodes_ ABSL_GUARDED_BY(mu_);
  // A call wants a session, and no attempt started since it asked.
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  // The reconnect thread runs.
  bool reconnecting_ ABSL_GUARDED_BY(mu_) = false;
  // It is opening a session right now (with mu_ released).
  bool connecting_ ABSL_GUARDED_BY(mu_) = false;
  // Finished attempts, so a waiting call knows when the next one ended.
  uint64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  ReconnectBackoff backoff_ ABSL_GUARDED_BY(mu_);
  // Set by the destructor: the reconnect thread stops.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Cancels the attempt in progress (the destructor's, so it never waits
  // out a daemon that does not answer).
  std::shared_ptr<OpenCanceller> canceller_ ABSL_GUARDED_BY(mu_);
  std::thread reconnect_thread_ ABSL_GUARDED_BY(mu_);
};

// The bytes of the file at `path`; NotFound / PermissionDenied / ...
// naming the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_
