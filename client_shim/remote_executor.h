// The object behind an AOTIProxyExecutorHandle: a model's extern kernels,
// registered with aoti-executord, and the calls into them.
//
// It owns the model's JSON and options and the current Session; when the
// daemon goes away, or a call misses its deadline or loses its connection
// (so that the daemon's and the client's view of the session's output blocks
// may differ), the next call opens a new session (Hello, attach socket,
// RegisterKernelSet) before it runs. With libtorch 2.2+ it is a
// torch::aot_inductor::ProxyExecutor, so its handle can be passed straight to
// AOTInductorModelContainerRun.
#ifndef AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_
#define AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_

#if defined(__has_include)
#if __has_include(<torch/csrc/inductor/aoti_torch/proxy_executor.h>)
#include <torch/csrc/inductor/aoti_torch/proxy_executor.h>
#define AOTI_REMOTE_HAS_PROXY_EXECUTOR 1
#endif
#endif
#ifndef AOTI_REMOTE_HAS_PROXY_EXECUTOR
#define AOTI_REMOTE_HAS_PROXY_EXECUTOR 0
#endif

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aoti_remote/executor.h"
#include "client_shim/options.h"
#include "client_shim/session.h"
#include "proto/executor.pb.h"

namespace aoti_executor {
namespace client {

#if AOTI_REMOTE_HAS_PROXY_EXECUTOR
using ExecutorBase = torch::aot_inductor::ProxyExecutor;
#else
// libtorch has no ProxyExecutor: the handle is ours alone.
class ExecutorBase {
 public:
  virtual ~ExecutorBase() = default;
};
#endif

class RemoteExecutor final : public ExecutorBase {
 public:
  // Reads the JSON at `json_path`, then opens a session with the daemon
  // (waiting up to the connect timeout for it) and registers the JSON.
  static absl::StatusOr<std::unique_ptr<RemoteExecutor>> Create(
      ExecutorOptions options, const std::string& json_path);

  ~RemoteExecutor() override;

  // aoti_torch_proxy_executor_call_function's contract: `tensors` holds the
  // input tensors, then the output handles (at::Tensor*), which are assigned
  // only on success; `ints` the input ints, then the int outputs. Checks the
  // index and the counts against the node before anything is sent.
  // Thread-safe.
  absl::Status Call(int extern_node_index, int num_ints, const int64_t* ints,
                    int num_tensors, AtenTensorHandle* tensors);

#if AOTI_REMOTE_HAS_PROXY_EXECUTOR
  // ProxyExecutor: Call, throwing std::runtime_error on failure (after
  // setting aoti_remote_last_error()), as libtorch's caller expects.
  void call_function(int extern_node_index, int num_ints,
                     int64_t* flatten_int_args, int num_tensors,
                     AtenTensorHandle* flatten_tensor_args) override;
#endif

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
  size_t num_nodes() const;
  // The session calls use now, opening a new one if the current one ended
  // (for tests and status).
  absl::StatusOr<std::shared_ptr<Session>> CurrentSession(absl::Time deadline);

 private:
  RemoteExecutor(ExecutorOptions options, std::string json_path,
                 std::string json)
      : options_(std::move(options)),
        json_path_(std::move(json_path)),
        json_(std::move(json)) {}

  Session::Nodes nodes() const;
  // Whether a failed call may have run in the daemon, or reached it, without
  // the client knowing: a missed deadline or a lost connection. Such a call
  // may have allocated output blocks the client never heard of, or lost the
  // releases it carried, and resending those could free a block that was
  // handed out again.
  static bool MayHaveRunUnseen(const absl::Status& status);
  // Makes the next call open a new session if `session` is still the
  // current one. The daemon frees every block of a session when its attach
  // socket closes (once the calls in flight on it let go); outputs the client
  // holds keep their memory.
  void Retire(const std::shared_ptr<Session>& session);

  const ExecutorOptions options_;
  const std::string json_path_;
  const std::string json_;  // kept to re-register in a new session
  mutable absl::Mutex mu_;
  std::shared_ptr<Session> session_ ABSL_GUARDED_BY(mu_);
  // The nodes of the latest session, for checks that need no daemon.
  Session::Nodes nodes_ ABSL_GUARDED_BY(mu_);
};

// The bytes of the file at `path`; NotFound / PermissionDenied / ...
// naming the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace client
}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_CLIENT_SHIM_REMOTE_EXECUTOR_H_
