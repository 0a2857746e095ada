// The bounds check every tensor reference passes before any byte is touched.
#ifndef AOTI_EXECUTOR_SERVER_SHM_TENSOR_LAYOUT_H_
#define AOTI_EXECUTOR_SERVER_SHM_TENSOR_LAYOUT_H_

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace aoti_executor {

// Where a tensor lies in a region, as a TensorRef describes it.
struct TensorLayout {
  uint64_t offset = 0;     // storage start within the region, bytes
  uint64_t byte_size = 0;  // storage bytes available from `offset`
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  int64_t storage_offset = 0;  // elements
};

// Most dimensions a tensor reference may have.
inline constexpr size_t kMaxTensorDims = 64;

// OK iff the tensor addresses only bytes inside [offset, offset + byte_size)
// and that span lies inside a region of `region_size` bytes. Checks, with
// overflow-safe arithmetic: offset + byte_size <= region_size; at most
// kMaxTensorDims dims; sizes.size() == strides.size(); sizes, strides and
// storage_offset non-negative; offset aligned to the element size; and the
// element extent (storage_offset + sum((size_i - 1) * stride_i) + 1) *
// element size <= byte_size (an empty tensor needs no bytes). The message
// names the field that is wrong and the numbers.
absl::Status ValidateTensorLayout(const TensorLayout& layout,
                                  uint64_t region_size);

// Bytes from the storage start to the end of the last element addressed
// (0 for an empty tensor), assuming ValidateTensorLayout passed.
uint64_t TensorExtentBytes(const TensorLayout& layout);

// Bytes from the first element a tensor of these sizes and strides
// addresses to the end of its last: (sum((size_i - 1) * stride_i) + 1) *
// element_size, or 0 if it has no elements. UINT64_MAX for negative
// numbers, mismatched lengths, or a result that overflows.
uint64_t ElementSpanBytes(absl::Span<const int64_t> sizes,
                          absl::Span<const int64_t> strides,
                          uint64_t element_size);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_SHM_TENSOR_LAYOUT_H_
