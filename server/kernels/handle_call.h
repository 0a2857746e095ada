// aoti_torch_proxy_executor_call_function's contract over a KernelSet,
// in-process: flat arrays of ints and of at::Tensor* handles, inputs then
// outputs, each output handle rebound to its result.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_HANDLE_CALL_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_HANDLE_CALL_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "absl/status/status.h"
#include "server/kernels/kernel_set.h"

namespace aoti_executor {

// The flat arrays' own checks, before any node is looked at: counts not
// negative, a non-empty array not NULL, no NULL handle. InvalidArgument
// naming the array and the numbers. Shared by every caller of the C
// contract (the shim checks before it sends anything).
absl::Status CheckFlatArrays(int num_ints, const int64_t* ints, int num_tensors,
                             const void* const* tensors);

// Runs node `extern_node_index`. `tensors` holds the input tensors in schema
// order, then one handle per output tensor (usually undefined tensors), which
// this assigns: the caller's handle then shares the result's storage, as
// OSSProxyExecutor does. Nothing is assigned unless the whole call succeeds.
absl::Status CallWithHandles(const KernelSet& kernels, int extern_node_index,
                             int num_ints, const int64_t* ints, int num_tensors,
                             at::Tensor* const* tensors);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_HANDLE_CALL_H_
