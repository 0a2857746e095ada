// The TensorLayout a TensorRef (executor.proto) describes, so that every
// party that receives one checks it the same way (ValidateTensorLayout)
// before touching a byte: the worker for inputs, the shim for outputs.
#ifndef AOTI_EXECUTOR_SERVER_SHM_TENSOR_REF_LAYOUT_H_
#define AOTI_EXECUTOR_SERVER_SHM_TENSOR_REF_LAYOUT_H_

#include <c10/core/ScalarType.h>

#include "proto/executor.pb.h"
#include "server/shm/tensor_layout.h"

namespace aoti_executor {

// `dtype` is the ref's dtype, already mapped from the serialized number.
TensorLayout LayoutOfRef(const aoti::executor::v1::TensorRef& ref,
                         c10::ScalarType dtype);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SHM_TENSOR_REF_LAYOUT_H_
