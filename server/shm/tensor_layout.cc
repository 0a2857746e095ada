#include "server/shm/tensor_layout.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace aoti_executor {
namespace {

// The element size of `dtype`, or 0 if it is not a type a tensor reference
// may carry: outside the enum (c10::elementSize throws for Undefined and
// beyond), or quantized (its bytes mean nothing without scale and zero
// point, which a TensorRef does not carry).
uint64_t ElementSizeOrZero(c10::ScalarType dtype) {
  const int value = static_cast<int>(dtype);
  if (value < 0 || value >= static_cast<int>(c10::ScalarType::Undefined)) {
    return 0;
  }
  if (c10::isQIntType(dtype)) {
    return 0;
  }
  return c10::elementSize(dtype);
}

std::string Dims(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
}

// Elements from the storage start to one past the last element addressed:
// storage_offset + sum((size_i - 1) * stride_i) + 1, or 0 for an empty
// tensor. Fails on int64 overflow, and (so that it is safe on any input) on
// negative numbers or mismatched lengths, which ValidateTensorLayout reports
// first with better messages.
absl::StatusOr<int64_t> ExtentElements(const TensorLayout& layout) {
  if (layout.strides.size() != layout.sizes.size() ||
      layout.storage_offset < 0) {
    return absl::InvalidArgumentError("malformed tensor layout");
  }
  for (size_t i = 0; i < layout.sizes.size(); ++i) {
    if (layout.sizes[i] < 0 || layout.strides[i] < 0) {
      return absl::InvalidArgumentError("malformed tensor layout");
    }
  }
  for (int64_t size : layout.sizes) {
    if (size == 0) {
      return 0;
    }
  }
  int64_t last = layout.storage_offset;
  for (size_t i = 0; i < layout.sizes.size(); ++i) {
    int64_t term;
    if (__builtin_mul_overflow(layout.sizes[i] - 1, layout.strides[i], &term) ||
        __builtin_add_overflow(last, term, &last)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "extent of sizes ", Dims(layout.sizes), ", strides ",
          Dims(layout.strides), " and storage_offset ", layout.storage_offset,
          " overflows int64 (at dim ", i, ")"));
    }
  }
  int64_t count;
  if (__builtin_add_overflow(last, int64_t{1}, &count)) {
    return absl::InvalidArgumentError(
        absl::StrCat("extent of sizes ", Dims(layout.sizes), ", strides ",
                     Dims(layout.strides), " and storage_offset ",
                     layout.storage_offset, " overflows int64"));
  }
  return count;
}

}  // namespace

absl::Status ValidateTensorLayout(const TensorLayout& layout,
                                  uint64_t region_size) {
  uint64_t end;
  if (__builtin_add_overflow(layout.offset, layout.byte_size, &end)) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset ", layout.offset, " + byte_size ",
                     layout.byte_size, " overflows uint64"));
  }
  if (end > region_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "offset ", layout.offset, " + byte_size ", layout.byte_size, " = ", end,
        " exceeds the region size ", region_size));
  }
  const uint64_t element_size = ElementSizeOrZero(layout.dtype);
  if (element_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", static_cast<int>(layout.dtype),
                     " is not a supported (non-quantized) scalar type"));
  }
  if (layout.sizes.size() > kMaxTensorDims) {
    return absl::InvalidArgumentError(
        absl::StrCat("sizes has ", layout.sizes.size(), " dims, at most ",
                     kMaxTensorDims, " are allowed"));
  }
  if (layout.strides.size() != layout.sizes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("strides has ", layout.strides.size(),
                     " dims but sizes has ", layout.sizes.size()));
  }
  for (size_t i = 0; i < layout.sizes.size(); ++i) {
    if (layout.sizes[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sizes[", i, "] = ", layout.sizes[i], " is negative"));
    }
    if (layout.strides[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "strides[", i, "] = ", layout.strides[i], " is negative"));
    }
  }
  if (layout.storage_offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage_offset ", layout.storage_offset, " is negative"));
  }
  if (layout.offset % element_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "offset ", layout.offset, " is not aligned to the ", element_size,
        "-byte element size of dtype ", c10::toString(layout.dtype)));
  }
  absl::StatusOr<int64_t> elements = ExtentElements(layout);
  if (!elements.ok()) {
    return elements.status();
  }
  uint64_t needed;
  if (__builtin_mul_overflow(static_cast<uint64_t>(*elements), element_size,
                             &needed)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extent of ", *elements, " elements of ", element_size,
        " bytes overflows uint64 (sizes ", Dims(layout.sizes), ", strides ",
        Dims(layout.strides), ", storage_offset ", layout.storage_offset, ")"));
  }
  if (needed > layout.byte_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor with sizes ", Dims(layout.sizes), ", strides ",
        Dims(layout.strides), ", storage_offset ", layout.storage_offset,
        " and dtype ", c10::toString(layout.dtype), " needs ", needed,
        " bytes but byte_size is ", layout.byte_size));
  }
  return absl::OkStatus();
}

uint64_t TensorExtentBytes(const TensorLayout& layout) {
  // On a layout that ValidateTensorLayout would refuse, answer the largest
  // extent rather than a small one a careless caller might trust.
  absl::StatusOr<int64_t> elements = ExtentElements(layout);
  const uint64_t element_size = ElementSizeOrZero(layout.dtype);
  uint64_t bytes;
  if (!elements.ok() || element_size == 0 ||
      __builtin_mul_overflow(static_cast<uint64_t>(*elements), element_size,
                             &bytes)) {
    return UINT64_MAX;
  }
  return bytes;
}

uint64_t ElementSpanBytes(absl::Span<const int64_t> sizes,
                          absl::Span<const int64_t> strides,
                          uint64_t element_size) {
  if (sizes.size() != strides.size()) return UINT64_MAX;
  uint64_t last = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0 || strides[i] < 0) return UINT64_MAX;
    if (sizes[i] == 0) return 0;
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    uint64_t term;
    if (__builtin_mul_overflow(static_cast<uint64_t>(sizes[i] - 1),
                               static_cast<uint64_t>(strides[i]), &term) ||
        __builtin_add_overflow(last, term, &last)) {
      return UINT64_MAX;
    }
  }
  uint64_t bytes;
  if (__builtin_add_overflow(last, uint64_t{1}, &last) ||
      __builtin_mul_overflow(last, element_size, &bytes)) {
    return UINT64_MAX;
  }
  return bytes;
}

}  // namespace aoti_executor
