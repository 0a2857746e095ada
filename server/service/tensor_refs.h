// Tensors on the wire, daemon side: TensorRef -> at::Tensor over a session's
// region (no copy), and an op's output -> TensorRef.
#ifndef AOTI_EXECUTOR_SERVER_SERVICE_TENSOR_REFS_H_
#define AOTI_EXECUTOR_SERVER_SERVICE_TENSOR_REFS_H_

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "proto/executor.pb.h"
#include "server/service/session.h"

namespace aoti_executor {

// Validates `ref` against the session's region (ValidateTensorLayout) and
// wraps the memory it names. The tensor keeps the region mapped while it
// lives, so releasing the region mid-call is safe.
absl::StatusOr<at::Tensor> TensorFromRef(
    const Session& session, const aoti::executor::v1::TensorRef& ref);

// An output whose storage lies in one of the session's regions (an op that
// returns a view of, or writes into, its input) is described by reference,
// not owned. Any other output is copied, strides kept, into a block of the
// session's output arena that the client must release.
absl::StatusOr<aoti::executor::v1::TensorRef> RefFromOutput(
    Session& session, const at::Tensor& output);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SERVICE_TENSOR_REFS_H_
