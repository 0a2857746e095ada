#include "server/shm/tensor_layout.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kRegion = 1 << 20;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

TensorLayout Layout(c10::ScalarType dtype, std::vector<int64_t> sizes,
                    std::vector<int64_t> strides, uint64_t byte_size,
                    int64_t storage_offset = 0, uint64_t offset = 0) {
  TensorLayout layout;
  layout.offset = offset;
  layout.byte_size = byte_size;
  layout.dtype = dtype;
  layout.sizes = std::move(sizes);
  layout.strides = std::move(strides);
  layout.storage_offset = storage_offset;
  return layout;
}

// Passes with exactly `bytes` bytes, fails with one byte fewer, and reports
// `bytes` as its extent.
void ExpectNeedsExactly(TensorLayout layout, uint64_t bytes) {
  EXPECT_EQ(TensorExtentBytes(layout), bytes);
  layout.byte_size = bytes;
  EXPECT_TRUE(ValidateTensorLayout(layout, kRegion).ok())
      << ValidateTensorLayout(layout, kRegion);
  if (bytes == 0) {
    return;
  }
  layout.byte_size = bytes - 1;
  absl::Status status = ValidateTensorLayout(layout, kRegion);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("byte_size is " + std::to_string(bytes - 1)),
                    HasSubstr("needs " + std::to_string(bytes))));
}

void ExpectInvalid(const TensorLayout& layout, const std::string& words,
                   uint64_t region_size = kRegion) {
  absl::Status status = ValidateTensorLayout(layout, region_size);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(words));
}

using c10::ScalarType;

TEST(TensorLayoutTest, Contiguous) {
  // 2x3 floats, row-major: 6 elements, 24 bytes.
  ExpectNeedsExactly(Layout(ScalarType::Float, {2, 3}, {3, 1}, 0), 24);
}

TEST(TensorLayoutTest, Strided) {
  // Every other column of a 2x6 float matrix: last element at
  // 1*6 + 2*2 = 10, so 11 elements, 44 bytes.
  ExpectNeedsExactly(Layout(ScalarType::Float, {2, 3}, {6, 2}, 0), 44);
}

TEST(TensorLayoutTest, Transposed) {
  // The transpose of a 2x3 contiguous tensor: last at 2*1 + 1*3 = 5.
  ExpectNeedsExactly(Layout(ScalarType::Float, {3, 2}, {1, 3}, 0), 24);
}

TEST(TensorLayoutTest, StorageOffset) {
  // 2x2 doubles starting at element 5: last at 5 + 1*2 + 1*1 = 8, so 9
  // elements, 72 bytes.
  ExpectNeedsExactly(Layout(ScalarType::Double, {2, 2}, {2, 1}, 0, 5), 72);
}

TEST(TensorLayoutTest, Scalar) {
  ExpectNeedsExactly(Layout(ScalarType::Long, {}, {}, 0), 8);
  ExpectNeedsExactly(Layout(ScalarType::Long, {}, {}, 0, 3), 32);
}

TEST(TensorLayoutTest, EmptyTensorNeedsNoBytes) {
  ExpectNeedsExactly(Layout(ScalarType::Float, {0, 5}, {5, 1}, 0), 0);
  // Even with strides that would overflow for a non-empty tensor.
  ExpectNeedsExactly(
      Layout(ScalarType::Float, {0, kInt64Max}, {kInt64Max, kInt64Max}, 0), 0);
  // But its other fields are still checked.
  ExpectInvalid(Layout(ScalarType::Float, {0, -1}, {1, 1}, 0), "sizes[1]");
  ExpectInvalid(Layout(ScalarType::Float, {0}, {1}, 0, -1), "storage_offset");
}

TEST(TensorLayoutTest, ZeroStridesFromExpand) {
  // A 4-float row expanded to 1000 rows: still 16 bytes.
  ExpectNeedsExactly(Layout(ScalarType::Float, {1000, 4}, {0, 1}, 0), 16);
  // Fully expanded scalar.
  ExpectNeedsExactly(Layout(ScalarType::Half, {7, 9, 11}, {0, 0, 0}, 0), 2);
}

TEST(TensorLayoutTest, SizeOneDimsIgnoreTheirStride) {
  ExpectNeedsExactly(Layout(ScalarType::Byte, {1, 4}, {kInt64Max, 1}, 0), 4);
}

TEST(TensorLayoutTest, ElementSizes) {
  ExpectNeedsExactly(Layout(ScalarType::Bool, {3}, {1}, 0), 3);
  ExpectNeedsExactly(Layout(ScalarType::Char, {3}, {1}, 0), 3);
  ExpectNeedsExactly(Layout(ScalarType::Short, {3}, {1}, 0), 6);
  ExpectNeedsExactly(Layout(ScalarType::Int, {3}, {1}, 0), 12);
  ExpectNeedsExactly(Layout(ScalarType::BFloat16, {3}, {1}, 0), 6);
  ExpectNeedsExactly(Layout(ScalarType::ComplexFloat, {3}, {1}, 0), 24);
  ExpectNeedsExactly(Layout(ScalarType::ComplexDouble, {3}, {1}, 0), 48);
}

TEST(TensorLayoutTest, SpanMustFitTheRegion) {
  TensorLayout layout = Layout(ScalarType::Float, {16}, {1}, 64, 0, 64);
  EXPECT_TRUE(ValidateTensorLayout(layout, 128).ok());
  ExpectInvalid(layout, "exceeds the region size 127", 127);
  ExpectInvalid(layout, "offset 64 + byte_size 64", 127);
  // A zero-byte span at the very end is inside.
  EXPECT_TRUE(
      ValidateTensorLayout(Layout(ScalarType::Float, {0}, {1}, 0, 0, 128), 128)
          .ok());
  ExpectInvalid(Layout(ScalarType::Float, {0}, {1}, 0, 0, 132), "region", 128);
}

TEST(TensorLayoutTest, OffsetPlusByteSizeOverflow) {
  // Wraps to 9: a naive check would let it through any region.
  TensorLayout layout = Layout(ScalarType::Byte, {1}, {1}, 20, 0,
                               std::numeric_limits<uint64_t>::max() - 10);
  ExpectInvalid(layout, "overflows uint64");
  ExpectInvalid(layout, "byte_size 20");
}

TEST(TensorLayoutTest, SizesTimesStridesOverflowInt64) {
  ExpectInvalid(Layout(ScalarType::Float, {kInt64Max / 2, 3}, {4, 1}, kRegion),
                "overflows int64");
  // Each term fits; their sum does not.
  ExpectInvalid(
      Layout(ScalarType::Float, {2, 2}, {kInt64Max, kInt64Max}, kRegion),
      "overflows int64");
  // The storage offset tips it over.
  ExpectInvalid(Layout(ScalarType::Float, {2}, {kInt64Max - 5}, kRegion, 10),
                "overflows int64");
  // Elements fit int64, bytes do not fit uint64: 2^62 doubles.
  ExpectInvalid(Layout(ScalarType::Double, {int64_t{1} << 62}, {1}, kRegion),
                "overflows uint64");
  // Fits uint64 but is far beyond byte_size.
  ExpectInvalid(Layout(ScalarType::Double, {int64_t{1} << 40}, {1}, kRegion),
                "needs 8796093022208 bytes");
}

TEST(TensorLayoutTest, NegativeNumbers) {
  ExpectInvalid(Layout(ScalarType::Float, {2, -3}, {3, 1}, 24), "sizes[1]");
  ExpectInvalid(Layout(ScalarType::Float, {2, -3}, {3, 1}, 24), "-3");
  ExpectInvalid(Layout(ScalarType::Float, {2, 3}, {-3, 1}, 24),
                "strides[0] = -3 is negative");
  ExpectInvalid(Layout(ScalarType::Float, {2, 3}, {3, 1}, 24, -1),
                "storage_offset -1 is negative");
  ExpectInvalid(
      Layout(ScalarType::Float, {std::numeric_limits<int64_t>::min()}, {1}, 24),
      "sizes[0]");
}

TEST(TensorLayoutTest, LengthMismatch) {
  ExpectInvalid(Layout(ScalarType::Float, {2, 3}, {1}, 24),
                "strides has 1 dims but sizes has 2");
  ExpectInvalid(Layout(ScalarType::Float, {}, {1}, 24), "strides has 1");
}

TEST(TensorLayoutTest, TooManyDims) {
  std::vector<int64_t> ones(kMaxTensorDims, 1);
  EXPECT_TRUE(
      ValidateTensorLayout(Layout(ScalarType::Float, ones, ones, 4), kRegion)
          .ok());
  ones.push_back(1);
  ExpectInvalid(Layout(ScalarType::Float, ones, ones, 4),
                "sizes has 65 dims, at most 64");
}

TEST(TensorLayoutTest, MisalignedOffset) {
  ExpectInvalid(Layout(ScalarType::Float, {1}, {1}, 4, 0, 2),
                "offset 2 is not aligned to the 4-byte element size");
  ExpectInvalid(Layout(ScalarType::Double, {1}, {1}, 8, 0, 4), "offset 4");
  EXPECT_TRUE(
      ValidateTensorLayout(Layout(ScalarType::Half, {1}, {1}, 2, 0, 2), kRegion)
          .ok());
  EXPECT_TRUE(
      ValidateTensorLayout(Layout(ScalarType::Byte, {1}, {1}, 1, 0, 3), kRegion)
          .ok());
}

TEST(TensorLayoutTest, InvalidDtype) {
  for (ScalarType dtype :
       {ScalarType::Undefined, ScalarType::NumOptions,
        static_cast<ScalarType>(-1), static_cast<ScalarType>(100),
        ScalarType::QInt8, ScalarType::QUInt8, ScalarType::QInt32,
        ScalarType::QUInt4x2, ScalarType::QUInt2x4}) {
    SCOPED_TRACE(static_cast<int>(dtype));
    TensorLayout layout = Layout(dtype, {1}, {1}, 8);
    ExpectInvalid(layout, "dtype");
    // Never an exception, never a small extent.
    EXPECT_EQ(TensorExtentBytes(layout), std::numeric_limits<uint64_t>::max());
  }
}

// The span the shim stages for a live tensor: hand-derived for a transposed
// 2x3, a column, a broadcast and an empty tensor; and TensorExtentBytes of
// the same geometry at storage_offset 0, where the two must agree.
TEST(TensorLayoutTest, ElementSpanBytes) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(ElementSpanBytes({3, 2}, {1, 3}, 4), 6u * 4);
  EXPECT_EQ(ElementSpanBytes({4}, {6}, 4), (3u * 6 + 1) * 4);
  EXPECT_EQ(ElementSpanBytes({1000}, {0}, 8), 8u);
  EXPECT_EQ(ElementSpanBytes({0, 5}, {5, 1}, 4), 0u);
  EXPECT_EQ(ElementSpanBytes({}, {}, 2), 2u);
  for (const auto& [sizes, strides] :
       std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{3, 2}, {1, 3}}, {{4}, {6}}, {{2, 3, 4}, {12, 4, 1}}}) {
    EXPECT_EQ(
        ElementSpanBytes(sizes, strides, 4),
        TensorExtentBytes(Layout(ScalarType::Float, sizes, strides, kRegion)));
  }
  // Never a small answer for what cannot be a tensor.
  EXPECT_EQ(ElementSpanBytes({2, 2}, {kInt64Max, kInt64Max}, 1), kMax);
  EXPECT_EQ(ElementSpanBytes({2}, {kInt64Max / 2 + 1}, 4), kMax);
  EXPECT_EQ(ElementSpanBytes({-1}, {1}, 4), kMax);
  EXPECT_EQ(ElementSpanBytes({2}, {1, 1}, 4), kMax);
}

}  // namespace
}  // namespace aoti_executor
