// The serialized enum numbering of torch/_export/serde/schema.py against
// c10's, written out independently from torch/_export/serde/schema.py.
#include "server/kernels/serialized_enums.h"

#include <gtest/gtest.h>

#include <utility>

namespace aoti_executor {
namespace {

TEST(SerializedEnumsTest, ScalarTypes) {
  const std::pair<int64_t, c10::ScalarType> table[] = {
      {1, c10::ScalarType::Byte},
      {2, c10::ScalarType::Char},
      {3, c10::ScalarType::Short},
      {4, c10::ScalarType::Int},
      {5, c10::ScalarType::Long},
      {6, c10::ScalarType::Half},
      {7, c10::ScalarType::Float},
      {8, c10::ScalarType::Double},
      {9, c10::ScalarType::ComplexHalf},
      {10, c10::ScalarType::ComplexFloat},
      {11, c10::ScalarType::ComplexDouble},
      {12, c10::ScalarType::Bool},
      {13, c10::ScalarType::BFloat16},
      {28, c10::ScalarType::UInt16},
      {29, c10::ScalarType::Float8_e4m3fn},
      {30, c10::ScalarType::Float8_e5m2},
      {31, c10::ScalarType::Float8_e4m3fnuz},
      {32, c10::ScalarType::Float8_e5m2fnuz},
      {33, c10::ScalarType::Float8_e8m0fnu},
      {34, c10::ScalarType::UInt32},
      {35, c10::ScalarType::UInt64},
  };
  for (const auto& [serialized, type] : table) {
    auto converted = ScalarTypeFromSerialized(serialized);
    ASSERT_TRUE(converted.ok()) << serialized << ": " << converted.status();
    EXPECT_EQ(*converted, type) << serialized;
    auto back = SerializedFromScalarType(type);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, serialized);
  }
  for (int64_t bad : {0, 14, 27, 36, -7}) {
    EXPECT_EQ(ScalarTypeFromSerialized(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(SerializedFromScalarType(c10::ScalarType::QInt8).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SerializedEnumsTest, Layouts) {
  const std::pair<int64_t, c10::Layout> table[] = {
      {1, c10::Layout::Sparse},    {2, c10::Layout::SparseCsr},
      {3, c10::Layout::SparseCsc}, {4, c10::Layout::SparseBsr},
      {5, c10::Layout::SparseBsc}, {6, c10::Layout::Mkldnn},
      {7, c10::Layout::Strided},
  };
  for (const auto& [serialized, layout] : table) {
    auto converted = LayoutFromSerialized(serialized);
    ASSERT_TRUE(converted.ok()) << converted.status();
    EXPECT_EQ(*converted, layout) << serialized;
  }
  EXPECT_FALSE(LayoutFromSerialized(0).ok());
  EXPECT_FALSE(LayoutFromSerialized(8).ok());
}

TEST(SerializedEnumsTest, MemoryFormats) {
  const std::pair<int64_t, c10::MemoryFormat> table[] = {
      {1, c10::MemoryFormat::Contiguous},
      {2, c10::MemoryFormat::ChannelsLast},
      {3, c10::MemoryFormat::ChannelsLast3d},
      {4, c10::MemoryFormat::Preserve},
  };
  for (const auto& [serialized, format] : table) {
    auto converted = MemoryFormatFromSerialized(serialized);
    ASSERT_TRUE(converted.ok()) << converted.status();
    EXPECT_EQ(*converted, format) << serialized;
  }
  EXPECT_FALSE(MemoryFormatFromSerialized(0).ok());
  EXPECT_FALSE(MemoryFormatFromSerialized(5).ok());
}

}  // namespace
}  // namespace aoti_executor
