#include "server/kernels/serialized_enums.h"

#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

absl::Status OutOfRange(const char* what, int64_t value) {
  return absl::InvalidArgumentError(
      absl::StrCat("serialized ", what, " ", value,
                   " is not defined by torch/_export/serde/schema.py"));
}

}  // namespace

absl::StatusOr<c10::ScalarType> ScalarTypeFromSerialized(int64_t value) {
  switch (value) {
    case 1:
      return c10::ScalarType::Byte;
    case 2:
      return c10::ScalarType::Char;
    case 3:
      return c10::ScalarType::Short;
    case 4:
      return c10::ScalarType::Int;
    case 5:
      return c10::ScalarType::Long;
    case 6:
      return c10::ScalarType::Half;
    case 7:
      return c10::ScalarType::Float;
    case 8:
      return c10::ScalarType::Double;
    case 9:
      return c10::ScalarType::ComplexHalf;
    case 10:
      return c10::ScalarType::ComplexFloat;
    case 11:
      return c10::ScalarType::ComplexDouble;
    case 12:
      return c10::ScalarType::Bool;
    case 13:
      return c10::ScalarType::BFloat16;
    case 28:
      return c10::ScalarType::UInt16;
    case 29:
      return c10::ScalarType::Float8_e4m3fn;
    case 30:
      return c10::ScalarType::Float8_e5m2;
    case 31:
      return c10::ScalarType::Float8_e4m3fnuz;
    case 32:
      return c10::ScalarType::Float8_e5m2fnuz;
    case 33:
      return c10::ScalarType::Float8_e8m0fnu;
    case 34:
      return c10::ScalarType::UInt32;
    case 35:
      return c10::ScalarType::UInt64;
    default:
      return OutOfRange("ScalarType", value);
  }
}

absl::StatusOr<int64_t> SerializedFromScalarType(c10::ScalarType type) {
  // Numbers 1..13, 28..35 are the only ones the schema defines; search them
  // rather than keep a second table in step with the first.
  for (int64_t value = 1; value <= 35; ++value) {
    auto candidate = ScalarTypeFromSerialized(value);
    if (candidate.ok() && *candidate == type) return value;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "scalar type ", c10::toString(type), " has no serialized number"));
}

absl::StatusOr<c10::Layout> LayoutFromSerialized(int64_t value) {
  switch (value) {
    case 1:
      return c10::Layout::Sparse;
    case 2:
      return c10::Layout::SparseCsr;
    case 3:
      return c10::Layout::SparseCsc;
    case 4:
      return c10::Layout::SparseBsr;
    case 5:
      return c10::Layout::SparseBsc;
    case 6:
      return c10::Layout::Mkldnn;
    case 7:
      return c10::Layout::Strided;
    default:
      return OutOfRange("Layout", value);
  }
}

absl::StatusOr<c10::MemoryFormat> MemoryFormatFromSerialized(int64_t value) {
  switch (value) {
    case 1:
      return c10::MemoryFormat::Contiguous;
    case 2:
      return c10::MemoryFormat::ChannelsLast;
    case 3:
      return c10::MemoryFormat::ChannelsLast3d;
    case 4:
      return c10::MemoryFormat::Preserve;
    default:
      return OutOfRange("MemoryFormat", value);
  }
}

}  // namespace aoti_executor
