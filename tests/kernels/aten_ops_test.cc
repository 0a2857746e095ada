// The engine on ATen ops (tests/fixtures/aten_ops.json): each node compared
// bitwise with the same op called directly through ATen's C++ API.
//
// Built twice: aten_ops_test runs every call in-process (OpKernel::Run and
// CallWithHandles); aten_ops_remote_test runs the same calls through the real
// aoti-executord and the client shim (remote_backend.h), each checked bitwise
// against in-process OpKernel::Run.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "tests/kernels/test_util.h"

namespace aoti_executor {
namespace {

using ::aoti_executor::kernel_test::ExpectedCounts;
using ::aoti_executor::kernel_test::ExpectNodeCounts;
using ::aoti_executor::kernel_test::LoadFixture;
using ::aoti_executor::kernel_test::NodeInfo;
using ::aoti_executor::kernel_test::RunBothWays;
using ::aoti_executor::kernel_test::SameTensor;
using ::aoti_executor::kernel_test::TestKernels;
using at::Tensor;

// Node indices of tests/fixtures/aten_ops.json.
enum FixtureNode {
  kAddDefaultAlpha = 0,
  kAddIntAlpha,
  kAddFloatAlpha,
  kIndex,
  kCat,
  kRepeat,
  kTopk,
  kToCopyFloat,
  kToCopyDouble,
  kAmaxEmptyDims,
  kPermuteEmptyDims,
  kForeachAddInts,
  kForeachAddFloats,
  kSumDimIntList,
  kNumFixtureNodes,
};

class AtenOpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto set = LoadFixture("aten_ops.json");
    ASSERT_TRUE(set.ok()) << set.status();
    kernels_ = new TestKernels(*std::move(set));
  }
  static void TearDownTestSuite() {
    delete kernels_;
    kernels_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(kernels_, nullptr); }

  const TestKernels& kernels() const { return *kernels_; }

  const Tensor arg0_1_ = at::arange(6, at::kFloat).reshape({2, 3});
  const Tensor arg1_1_ = at::full({2, 3}, 2.5, at::kFloat);
  const Tensor arg2_1_ = at::tensor({2, 0}, at::kLong);
  const Tensor arg3_1_ = at::arange(5, at::kLong) * 3 - 4;

 private:
  static TestKernels* kernels_;
};

TestKernels* AtenOpsTest::kernels_ = nullptr;

TEST_F(AtenOpsTest, FixtureTargetsAndFlatCounts) {
  const ExpectedCounts expected[kNumFixtureNodes] = {
      {"aten::add.Tensor", 2, 0, 1, 0},
      {"aten::add.Tensor", 2, 1, 1, 0},
      {"aten::add.Tensor", 2, 0, 1, 0},
      {"aten::index.Tensor", 2, 0, 1, 0},  // the None index sends nothing
      {"aten::cat", 3, 1, 1, 0},
      {"aten::repeat", 1, 2, 1, 0},
      {"aten::topk", 1, 2, 2, 0},
      {"aten::_to_copy", 1, 0, 1, 0},
      {"aten::_to_copy", 1, 0, 1, 0},
      {"aten::amax", 1, 0, 1, 0},
      {"aten::permute", 1, 0, 1, 0},
      {"aten::_foreach_add.ScalarList", 2, 2, 2, 0},
      {"aten::_foreach_add.ScalarList", 2, 0, 2, 0},
      {"aten::sum.dim_IntList", 1, 1, 1, 0},
  };
  ExpectNodeCounts(kernels().backend(), expected);
}

TEST_F(AtenOpsTest, AddWithTheDefaultAlphaOmitted) {
  auto outputs =
      RunBothWays(kernels(), kAddDefaultAlpha, {}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], at::add(arg0_1_, arg1_1_)));
}

TEST_F(AtenOpsTest, AddWithAnIntAlphaFromTheFlatInts) {
  auto outputs = RunBothWays(kernels(), kAddIntAlpha, {3}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], at::add(arg0_1_, arg1_1_, 3)));
}

TEST_F(AtenOpsTest, AddWithAStaticFloatAlpha) {
  auto outputs = RunBothWays(kernels(), kAddFloatAlpha, {}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], at::add(arg0_1_, arg1_1_, 0.5)));
}

// indices = [None, arg2_1]: only arg2_1 is in the flat tensor array.
TEST_F(AtenOpsTest, IndexWithOptionalTensorList) {
  auto outputs = RunBothWays(kernels(), kIndex, {}, {arg0_1_, arg2_1_});
  ASSERT_EQ(outputs.size(), 1u);
  c10::List<c10::optional<Tensor>> indices;
  indices.push_back(c10::nullopt);
  indices.push_back(arg2_1_);
  const Tensor expected = at::index(arg0_1_, indices);
  EXPECT_TRUE(SameTensor(outputs[0], expected));
  EXPECT_EQ(expected.sizes(), (std::vector<int64_t>{2, 2}));
}

TEST_F(AtenOpsTest, CatWithTensorList) {
  const Tensor buf0 = at::ones({2, 1});
  auto outputs = RunBothWays(kernels(), kCat, {1}, {arg0_1_, arg1_1_, buf0});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], at::cat({arg0_1_, arg1_1_, buf0}, 1)));
}

// repeats = [s0, 2] (as_sym_ints mixing as_name and as_int), s0 = 3.
TEST_F(AtenOpsTest, RepeatWithSymIntList) {
  auto outputs = RunBothWays(kernels(), kRepeat, {3, 2}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], arg0_1_.repeat({3, 2})));
  EXPECT_EQ(outputs[0].sizes(), (std::vector<int64_t>{6, 6}));
}

TEST_F(AtenOpsTest, TopkWithTwoOutputs) {
  auto outputs = RunBothWays(kernels(), kTopk, {2, 1}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 2u);
  auto expected = at::topk(arg0_1_, 2, 1, /*largest=*/false, /*sorted=*/true);
  EXPECT_TRUE(SameTensor(outputs[0], std::get<0>(expected)));
  EXPECT_TRUE(SameTensor(outputs[1], std::get<1>(expected)));
  EXPECT_EQ(outputs[1].scalar_type(), at::kLong);
}

// Serialized ScalarType 7 is FLOAT (c10's Float is 6); 8 is DOUBLE.
TEST_F(AtenOpsTest, ToCopyWithSerializedScalarType) {
  auto outputs = RunBothWays(kernels(), kToCopyFloat, {}, {arg3_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].scalar_type(), at::kFloat);
  EXPECT_TRUE(SameTensor(outputs[0], arg3_1_.to(at::kFloat)));

  outputs = RunBothWays(kernels(), kToCopyDouble, {}, {arg3_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].scalar_type(), at::kDouble);
  EXPECT_TRUE(SameTensor(outputs[0], arg3_1_.to(at::kDouble)));
}

// dim=[] reaches amax as an empty list (reduce everything); None would be
// refused by its `int[1] dim` unboxing.
TEST_F(AtenOpsTest, AmaxWithAnEmptyIntList) {
  auto outputs = RunBothWays(kernels(), kAmaxEmptyDims, {}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], at::amax(arg0_1_, {})));
  EXPECT_EQ(outputs[0].dim(), 0);
  EXPECT_EQ(outputs[0].item<float>(), 5.0f);
}

TEST_F(AtenOpsTest, PermuteOfAZeroDimTensorWithAnEmptyIntList) {
  const Tensor scalar = at::scalar_tensor(7.0, at::kFloat);
  auto outputs = RunBothWays(kernels(), kPermuteEmptyDims, {}, {scalar});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], at::permute(scalar, {})));
}

// Scalar[] as_ints: run-time ints, given to the kernel as a list of numbers.
TEST_F(AtenOpsTest, ForeachAddWithIntScalarList) {
  auto outputs =
      RunBothWays(kernels(), kForeachAddInts, {2, 3}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 2u);
  std::vector<at::Scalar> scalars = {2, 3};
  auto expected = at::_foreach_add({arg0_1_, arg1_1_}, scalars);
  EXPECT_TRUE(SameTensor(outputs[0], expected[0]));
  EXPECT_TRUE(SameTensor(outputs[1], expected[1]));
}

TEST_F(AtenOpsTest, ForeachAddWithFloatScalarList) {
  auto outputs =
      RunBothWays(kernels(), kForeachAddFloats, {}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 2u);
  std::vector<at::Scalar> scalars = {0.5, 1.5};
  auto expected = at::_foreach_add({arg0_1_, arg1_1_}, scalars);
  EXPECT_TRUE(SameTensor(outputs[0], expected[0]));
  EXPECT_TRUE(SameTensor(outputs[1], expected[1]));
}

TEST_F(AtenOpsTest, SumWithDimKeepdimAndKwargDtype) {
  auto outputs = RunBothWays(kernels(), kSumDimIntList, {1}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0],
                         at::sum(arg0_1_, {1}, /*keepdim=*/true, at::kDouble)));
}

}  // namespace
}  // namespace aoti_executor
