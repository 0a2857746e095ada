// Converts the enum numbering of torch/_export/serde/schema.py to c10's.
//
// The serializer writes ScalarType, Layout and MemoryFormat with its own
// numbers (schema FLOAT is 7, c10 Float is 6), so every serialized enum must
// be remapped before it reaches a kernel.
#ifndef AOTI_EXECUTOR_SERVER_KERNELS_SERIALIZED_ENUMS_H_
#define AOTI_EXECUTOR_SERVER_KERNELS_SERIALIZED_ENUMS_H_

#include <c10/core/Layout.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace aoti_executor {

// InvalidArgument for numbers the schema does not define (0 is "unknown"),
// Unimplemented for types this libtorch build lacks (e.g. Float8 on 1.13).
absl::StatusOr<c10::ScalarType> ScalarTypeFromSerialized(int64_t value);
absl::StatusOr<c10::Layout> LayoutFromSerialized(int64_t value);
absl::StatusOr<c10::MemoryFormat> MemoryFormatFromSerialized(int64_t value);

// The inverse of ScalarTypeFromSerialized, for tensors on the wire;
// InvalidArgument for types the schema has no number for (quantized ones).
absl::StatusOr<int64_t> SerializedFromScalarType(c10::ScalarType type);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_KERNELS_SERIALIZED_ENUMS_H_
