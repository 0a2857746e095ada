// The C ABI of include/aoti_remote/executor.h over RemoteExecutor. Every
// entry point runs its body through Guarded(), the one place where
// exceptions and errors become AOTI_TORCH_FAILURE plus the thread's last
// error.
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "aoti_remote/executor.h"
#include "client_shim/last_error.h"
#include "client_shim/memory/shared_allocator.h"
#include "client_shim/options.h"
#include "client_shim/remote_executor.h"

namespace aoti_executor {
namespace client {
namespace {

template <typename Body>
AOTITorchError Guarded(Body&& body) noexcept {
  absl::Status status;
  try {
    status = body();
  } catch (...) {
    status = CurrentExceptionStatus();
  }
  if (status.ok()) return AOTI_TORCH_SUCCESS;
  SetLastError(status);
  return AOTI_TORCH_FAILURE;
}

absl::Status NullArgument(const char* function, const char* argument) {
  return absl::InvalidArgumentError(
      absl::StrCat(function, ": ", argument, " is NULL"));
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor

using aoti_executor::client::Guarded;
using aoti_executor::client::NullArgument;
using aoti_executor::client::RemoteExecutor;

extern "C" {

AOTI_REMOTE_EXPORT AOTITorchError aoti_remote_executor_create(
    const char* endpoint, const char* extern_kernels_json_path,
    const char* device, AOTIProxyExecutorHandle* out) {
  return Guarded([&]() -> absl::Status {
    constexpr char kFunction[] = "aoti_remote_executor_create";
    if (out == nullptr) return NullArgument(kFunction, "out");
    *out = nullptr;
    if (extern_kernels_json_path == nullptr) {
      return NullArgument(kFunction, "extern_kernels_json_path");
    }
    absl::StatusOr<aoti_executor::client::ExecutorOptions> options =
        aoti_executor::client::OptionsFromEnvironment(endpoint, device);
    if (!options.ok()) return options.status();
    absl::StatusOr<std::unique_ptr<RemoteExecutor>> executor =
        RemoteExecutor::Create(*std::move(options), extern_kernels_json_path);
    if (!executor.ok()) return executor.status();
    *out = (*executor).release()->handle();
    return absl::OkStatus();
  });
}

AOTI_REMOTE_EXPORT AOTITorchError
aoti_remote_executor_delete(AOTIProxyExecutorHandle executor) {
  return Guarded([&]() -> absl::Status {
    if (executor == nullptr) {
      return NullArgument("aoti_remote_executor_delete", "executor");
    }
    delete RemoteExecutor::FromHandle(executor);
    return absl::OkStatus();
  });
}

AOTI_REMOTE_EXPORT AOTITorchError aoti_remote_executor_call_function(
    AOTIProxyExecutorHandle executor, int extern_node_index, int num_ints,
    int64_t* flatten_int_args, int num_tensors,
    AtenTensorHandle* flatten_tensor_args) {
  return Guarded([&]() -> absl::Status {
    if (executor == nullptr) {
      return NullArgument("aoti_remote_executor_call_function", "executor");
    }
    return RemoteExecutor::FromHandle(executor)->Call(
        extern_node_index, num_ints, flatten_int_args, num_tensors,
        flatten_tensor_args);
  });
}

AOTI_REMOTE_EXPORT AOTITorchError
aoti_remote_executor_take_failure(AOTIProxyExecutorHandle executor) {
  return Guarded([&]() -> absl::Status {
    if (executor == nullptr) {
      return NullArgument("aoti_remote_executor_take_failure", "executor");
    }
    return RemoteExecutor::FromHandle(executor)->TakeFailure();
  });
}

AOTI_REMOTE_EXPORT AOTITorchError aoti_remote_install_shared_allocator(void) {
  return Guarded([]() -> absl::Status {
    return aoti_executor::client::InstallSharedAllocator();
  });
}

AOTI_REMOTE_EXPORT const char* aoti_remote_last_error(void) {
  return aoti_executor::client::LastError();
}

}  // extern "C"
