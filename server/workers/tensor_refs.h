// Tensors on the wire, in the worker: TensorRef -> at::Tensor over one of
// the session's regions (no copy), and an op's output -> TensorRef.
#ifndef AOTI_EXECUTOR_SERVER_WORKERS_TENSOR_REFS_H_
#define AOTI_EXECUTOR_SERVER_WORKERS_TENSOR_REFS_H_

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "proto/executor.pb.h"
#include "server/shm/output_arena.h"
#include "server/shm/region_table.h"

namespace aoti_executor {

// Validates `ref` against its region (ValidateTensorLayout) and wraps the
// memory it names. The tensor keeps the region mapped while it lives, so
// releasing the region mid-call is safe.
absl::StatusOr<at::Tensor> TensorFromRef(
    const RegionTable& regions, const aoti::executor::v1::TensorRef& ref);

// An output the op allocated in the arena (OutputAllocator) is handed to the
// client as it is. One whose storage lies in one of `regions` (an op that
// returns a view of, or writes into, its input) is described by reference,
// not owned. Any other output is copied, strides kept, into a block of
// `arena`. Owned blocks are the client's to release.
// Adds the bytes it copies to `*bytes_copied`.
absl::StatusOr<aoti::executor::v1::TensorRef> RefFromOutput(
    const RegionTable& regions, OutputArena& arena, const at::Tensor& output,
    uint64_t* bytes_copied);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_WORKERS_TENSOR_REFS_H_
