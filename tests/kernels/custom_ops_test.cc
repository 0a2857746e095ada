// The engine on custom ops (//tests/ops:libaoti_test_ops.so), from the
// fixture tests/fixtures/custom_ops.json: every argument and return kind,
// against the same op called directly through the dispatcher or against the
// values the op must have received (record ops, tests/ops/record.h).
//
// Built twice: custom_ops_test runs every call in-process (OpKernel::Run and
// CallWithHandles); custom_ops_remote_test runs the same calls through the
// real aoti-executord and the client shim (remote_backend.h), each checked
// bitwise against in-process OpKernel::Run.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/kernels/pr110526_call.h"
#include "tests/kernels/test_util.h"
#include "tests/ops/record.h"

namespace aoti_executor {
namespace {

using ::aoti_executor::kernel_test::AotiCall;
using ::aoti_executor::kernel_test::ExpectedCounts;
using ::aoti_executor::kernel_test::ExpectNodeCounts;
using ::aoti_executor::kernel_test::LoadFixture;
using ::aoti_executor::kernel_test::LoadTestOps;
using ::aoti_executor::kernel_test::NodeInfo;
using ::aoti_executor::kernel_test::Pr110526Call;
using ::aoti_executor::kernel_test::RunBothWays;
using ::aoti_executor::kernel_test::RunNode;
using ::aoti_executor::kernel_test::SameTensor;
using ::aoti_executor::kernel_test::TestKernels;
using ::aoti_test::kNone;
using ::aoti_test::Record;
using at::Tensor;
using c10::optional;

// Node indices of tests/fixtures/custom_ops.json.
enum FixtureNode {
  kAllInputs = 0,
  kDefaultInputOmitted,
  kDefaultInputGiven,
  kTupleOutput,
  kListOutput,
  kMixOutputs,
  kInputMutation,
  kOutVariant,
  kOptionalTensorOutput,
  kOptionalTensorOutput2,
  kIntOutput,
  kEncodeStatics,
  kScalarInt,
  kScalarSymInt,
  kScalarFloat,
  kScalarBool,
  kScalarsInts,
  kScalarsFloats,
  kScalarsBools,
  kAnyTensor,
  kAnyInt,
  kAnyFloat,
  kAnyBool,
  kAnyString,
  kAnyNone,
  kSymIntsDefault,
  kSymIntsAll,
  kOptionalsNone,
  kOptionalsPresent,
  kKwargDefaultsOmitted,
  kKwargDefaultsReordered,
  kEmptyLists,
  kTensorAndNone,
  kNoneAndTensor,
  kNCopies,
  kAlwaysThrows,
  kThrowsNonStd,
  kNumFixtureNodes,
};

template <typename Signature>
c10::TypedOperatorHandle<Signature> TypedOp(const char* name) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow(name, "")
      .typed<Signature>();
}

class CustomOpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::Status loaded = LoadTestOps();
    ASSERT_TRUE(loaded.ok()) << loaded;
    auto set = LoadFixture("custom_ops.json");
    ASSERT_TRUE(set.ok()) << set.status();
    kernels_ = new TestKernels(*std::move(set));
  }
  static void TearDownTestSuite() {
    delete kernels_;
    kernels_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(kernels_, nullptr); }

  const TestKernels& kernels() const { return *kernels_; }

  // Distinct sums (15, 12, 2), so a record tells them apart.
  const Tensor arg0_1_ = at::arange(6, at::kFloat).reshape({2, 3});
  const Tensor arg1_1_ = at::full({2, 3}, 2.0, at::kFloat);
  const Tensor arg2_1_ = at::full({4}, 0.5, at::kFloat);

 private:
  static TestKernels* kernels_;
};

TestKernels* CustomOpsTest::kernels_ = nullptr;

TEST_F(CustomOpsTest, FixtureTargetsAndFlatCounts) {
  // Hand-derived from the schemas and the fixture.
  const ExpectedCounts expected[kNumFixtureNodes] = {
      {"aoti_test::fn_with_all_inputs", 6, 15, 1, 0},
      {"aoti_test::fn_with_default_input", 1, 0, 1, 0},
      {"aoti_test::fn_with_default_input", 1, 1, 1, 0},
      {"aoti_test::fn_with_tuple_output", 1, 1, 2, 0},
      {"aoti_test::fn_with_list_output", 2, 1, 2, 0},
      {"aoti_test::fn_with_mix_outputs", 3, 0, 3, 0},
      {"aoti_test::fn_with_input_mutation", 3, 0, 2, 0},
      {"aoti_test::fn_out_variant_without_return", 2, 0, 0, 0},
      {"aoti_test::fn_with_optional_tensor_output", 2, 0, 2, 0},
      {"aoti_test::fn_with_optional_tensor_output_2", 2, 0, 2, 0},
      {"aoti_test::fn_with_int_output", 2, 1, 2, 2},
      {"aoti_test::encode_statics", 0, 0, 1, 0},
      {"aoti_test::encode_scalar", 0, 1, 1, 0},
      {"aoti_test::encode_scalar", 0, 1, 1, 0},
      {"aoti_test::encode_scalar", 0, 0, 1, 0},
      {"aoti_test::encode_scalar", 0, 0, 1, 0},
      {"aoti_test::encode_scalars", 0, 2, 1, 0},
      {"aoti_test::encode_scalars", 0, 0, 1, 0},
      {"aoti_test::encode_scalars", 0, 0, 1, 0},
      {"aoti_test::encode_any", 1, 0, 1, 0},
      {"aoti_test::encode_any", 0, 1, 1, 0},
      {"aoti_test::encode_any", 0, 0, 1, 0},
      {"aoti_test::encode_any", 0, 0, 1, 0},
      {"aoti_test::encode_any", 0, 0, 1, 0},
      {"aoti_test::encode_any", 0, 0, 1, 0},
      {"aoti_test::encode_symints", 0, 3, 1, 0},
      {"aoti_test::encode_symints", 0, 5, 1, 0},
      {"aoti_test::encode_optionals", 0, 0, 1, 0},
      {"aoti_test::encode_optionals", 1, 1, 1, 0},
      {"aoti_test::encode_kwarg_defaults", 1, 0, 1, 0},
      {"aoti_test::encode_kwarg_defaults", 1, 4, 1, 0},
      {"aoti_test::list_lengths", 0, 0, 1, 0},
      {"aoti_test::tensor_and_none", 1, 0, 1, 0},
      {"aoti_test::none_and_tensor", 1, 0, 1, 0},
      {"aoti_test::n_copies", 1, 1, 2, 0},
      {"aoti_test::always_throws", 1, 0, 1, 0},
      {"aoti_test::throws_non_std", 1, 0, 1, 0},
  };
  ExpectNodeCounts(kernels().backend(), expected);
}

// Tensor(a!) arguments: the inputs a remote caller must copy back.
TEST_F(CustomOpsTest, MutatedInputTensorsAreTheWrittenArguments) {
  const std::pair<int, std::vector<int>> cases[] = {
      {kInputMutation, {0, 2}},  // t0 and t2 of (t0, t1, t2)
      {kOutVariant, {1}},        // out of (x, out)
      {kAllInputs, {}},
      {kMixOutputs, {}},
  };
  for (const auto& [node, mutated] : cases) {
    absl::StatusOr<NodeInfo> info = kernels().backend().Describe(node);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->mutated_input_tensors, mutated) << "node " << node;
  }
}

// PyTorch PR #110526's call, in its shape:
//   call_function(proxy_executor, 0, 15, {42, 16, 17, s0 + s1, s0 + s1, s2*s3,
//   45, 67, 16, 17, s2*s3, s2*s3, s0 + s1, 89, 910}, 7, {arg0_1, arg0_1,
//   arg1_1, buf2, arg0_1, arg1_1, buf4});
TEST_F(CustomOpsTest, FnWithAllInputsPr110526Call) {
  const Pr110526Call pr;
  const std::vector<int64_t> ints = pr.ints();
  ASSERT_EQ(ints.size(), 15u);
  const Tensor expected = pr.ExpectedRecord();

  // The AOTI way: 7 handles, the last one an undefined tensor for buf4.
  AotiCall call(pr.inputs(), /*num_outputs=*/1);
  ASSERT_EQ(call.num_handles(), 7);
  ASSERT_FALSE(call.handle(6)->defined());
  absl::Status status = call.Call(kernels(), kAllInputs, ints);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(SameTensor(*call.handle(6), expected));

  auto run = RunNode(kernels(), kAllInputs, ints, pr.inputs());
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->size(), 1u);
  EXPECT_TRUE(SameTensor((*run)[0], expected));
}

TEST_F(CustomOpsTest, FnWithDefaultInputFillsTheSchemaDefault) {
  auto op = TypedOp<Tensor(const Tensor&, int64_t)>(
      "aoti_test::fn_with_default_input");
  auto outputs = RunBothWays(kernels(), kDefaultInputOmitted, {}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], op.call(arg0_1_, 3)));
  EXPECT_TRUE(SameTensor(outputs[0], arg0_1_ * 3));
}

// The JSON's as_int is only the compile-time record: the value comes from
// the flat int array.
TEST_F(CustomOpsTest, IntValuesComeFromTheCallNotTheJson) {
  auto op = TypedOp<Tensor(const Tensor&, int64_t)>(
      "aoti_test::fn_with_default_input");
  for (int64_t i : {5, 7, -2}) {
    auto outputs = RunBothWays(kernels(), kDefaultInputGiven, {i}, {arg0_1_});
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(SameTensor(outputs[0], op.call(arg0_1_, i))) << i;
  }
}

TEST_F(CustomOpsTest, FnWithTupleOutput) {
  auto op = TypedOp<std::tuple<Tensor, Tensor>(const Tensor&, int64_t)>(
      "aoti_test::fn_with_tuple_output");
  auto outputs = RunBothWays(kernels(), kTupleOutput, {4}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 2u);
  auto expected = op.call(arg0_1_, 4);
  EXPECT_TRUE(SameTensor(outputs[0], std::get<0>(expected)));
  EXPECT_TRUE(SameTensor(outputs[1], std::get<1>(expected)));
}

TEST_F(CustomOpsTest, FnWithListOutput) {
  auto op = TypedOp<std::vector<Tensor>(at::TensorList, int64_t)>(
      "aoti_test::fn_with_list_output");
  auto outputs = RunBothWays(kernels(), kListOutput, {2}, {arg0_1_, arg1_1_});
  auto expected = op.call({arg0_1_, arg1_1_}, 2);
  ASSERT_EQ(outputs.size(), 2u);
  ASSERT_EQ(expected.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], expected[0]));
  EXPECT_TRUE(SameTensor(outputs[1], expected[1]));
}

TEST_F(CustomOpsTest, FnWithMixOutputs) {
  auto op = TypedOp<std::tuple<Tensor, std::vector<Tensor>>(
      const Tensor&, at::TensorList)>("aoti_test::fn_with_mix_outputs");
  auto outputs =
      RunBothWays(kernels(), kMixOutputs, {}, {arg0_1_, arg1_1_, arg2_1_});
  auto expected = op.call(arg0_1_, {arg1_1_, arg2_1_});
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_TRUE(SameTensor(outputs[0], std::get<0>(expected)));
  EXPECT_TRUE(SameTensor(outputs[1], std::get<1>(expected)[0]));
  EXPECT_TRUE(SameTensor(outputs[2], std::get<1>(expected)[1]));
}

TEST_F(CustomOpsTest, FnWithInputMutationMutatesThroughTheCallersHandles) {
  auto op =
      TypedOp<std::tuple<Tensor, Tensor>(Tensor&, const Tensor&, Tensor&)>(
          "aoti_test::fn_with_input_mutation");
  Tensor ref_t0 = at::ones({2, 3});
  Tensor ref_t2 = at::full({2, 3}, 3.0);
  auto expected = op.call(ref_t0, arg0_1_, ref_t2);
  ASSERT_FALSE(at::equal(ref_t0, at::ones({2, 3})));  // the op does mutate

  // CallWithHandles: the caller's own handles see the mutation.
  const Tensor buf0 = at::ones({2, 3});
  const Tensor buf1 = at::full({2, 3}, 3.0);
  AotiCall call({buf0, arg0_1_, buf1}, /*num_outputs=*/2);
  absl::Status status = call.Call(kernels(), kInputMutation, {});
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(SameTensor(*call.handle(0), ref_t0));
  EXPECT_TRUE(SameTensor(*call.handle(2), ref_t2));
  EXPECT_TRUE(SameTensor(buf0, ref_t0));  // same TensorImpl as the handle
  EXPECT_TRUE(SameTensor(buf1, ref_t2));
  EXPECT_TRUE(
      SameTensor(*call.handle(1), at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(SameTensor(*call.handle(3), std::get<0>(expected)));
  EXPECT_TRUE(SameTensor(*call.handle(4), std::get<1>(expected)));

  // OpKernel::Run: the input tensors themselves are mutated.
  const Tensor t0 = at::ones({2, 3});
  const Tensor t2 = at::full({2, 3}, 3.0);
  auto run = RunNode(kernels(), kInputMutation, {}, {t0, arg0_1_, t2});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->size(), 2u);
  EXPECT_TRUE(SameTensor(t0, ref_t0));
  EXPECT_TRUE(SameTensor(t2, ref_t2));
  EXPECT_TRUE(SameTensor((*run)[0], std::get<0>(expected)));
  EXPECT_TRUE(SameTensor((*run)[1], std::get<1>(expected)));
}

TEST_F(CustomOpsTest, OutVariantWithoutReturnWritesIntoItsOutArgument) {
  auto op = TypedOp<void(const Tensor&, Tensor&)>(
      "aoti_test::fn_out_variant_without_return");
  Tensor expected = at::zeros({2, 3});
  op.call(arg0_1_, expected);

  const Tensor buf3 = at::zeros({2, 3});
  AotiCall call({arg0_1_, buf3}, /*num_outputs=*/0);
  absl::Status status = call.Call(kernels(), kOutVariant, {});
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(SameTensor(*call.handle(1), expected));
  EXPECT_TRUE(SameTensor(buf3, expected));

  const Tensor out = at::zeros({2, 3});
  auto run = RunNode(kernels(), kOutVariant, {}, {arg0_1_, out});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->empty());
  EXPECT_TRUE(SameTensor(out, expected));
}

using OptionalOutputs = std::tuple<Tensor, optional<Tensor>, optional<Tensor>>(
    const Tensor&, const Tensor&);

TEST_F(CustomOpsTest, OptionalTensorOutputSkipsTheNoneReturn) {
  auto expected =
      TypedOp<OptionalOutputs>("aoti_test::fn_with_optional_tensor_output")
          .call(arg0_1_, arg1_1_);
  ASSERT_FALSE(std::get<2>(expected).has_value());
  auto outputs =
      RunBothWays(kernels(), kOptionalTensorOutput, {}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], std::get<0>(expected)));
  EXPECT_TRUE(SameTensor(outputs[1], *std::get<1>(expected)));
}

// A None return between two tensors: the tensor after it still lands in the
// second handle (OSSProxyExecutor's `continue` would misread it).
TEST_F(CustomOpsTest, OptionalTensorOutputWithNoneInTheMiddle) {
  auto expected =
      TypedOp<OptionalOutputs>("aoti_test::fn_with_optional_tensor_output_2")
          .call(arg0_1_, arg1_1_);
  ASSERT_FALSE(std::get<1>(expected).has_value());
  auto outputs =
      RunBothWays(kernels(), kOptionalTensorOutput2, {}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], std::get<0>(expected)));
  EXPECT_TRUE(SameTensor(outputs[1], *std::get<2>(expected)));
}

TEST_F(CustomOpsTest, IntOutputsMatchingTheSpecializedValues) {
  auto expected =
      TypedOp<std::tuple<Tensor, optional<Tensor>, optional<Tensor>, int64_t,
                         int64_t>(const Tensor&, const Tensor&, int64_t)>(
          "aoti_test::fn_with_int_output")
          .call(arg0_1_, arg1_1_, 5);
  ASSERT_EQ(std::get<3>(expected), 5);
  ASSERT_EQ(std::get<4>(expected), 10);
  // ints: the input i, then the two int returns as compiled.
  auto outputs =
      RunBothWays(kernels(), kIntOutput, {5, 5, 10}, {arg0_1_, arg1_1_});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], std::get<0>(expected)));
  EXPECT_TRUE(SameTensor(outputs[1], *std::get<1>(expected)));
}

// Serialized ScalarType 7 (FLOAT), Layout 7 (Strided), MemoryFormat 4
// (Preserve) reach the kernel as c10's Float, Strided, Preserve.
TEST_F(CustomOpsTest, StaticArgumentsArriveRemapped) {
  Record expected;
  expected.Add(0.25).AddBool(true).AddString("hi");
  expected.Add(static_cast<double>(c10::ScalarType::Float));
  expected.Add(static_cast<double>(c10::Layout::Strided));
  expected.Add(static_cast<double>(c10::MemoryFormat::Preserve));
  expected.Add(static_cast<double>(c10::kCPU)).Add(-1);
  auto outputs = RunBothWays(kernels(), kEncodeStatics, {}, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()));
}

// A serialized device of the runtime device's type follows the runtime
// device (compiled for cuda:0, running on cuda:1; a bare "cuda" is the
// current device, index -1); another type is kept.
TEST_F(CustomOpsTest, DeviceArgumentFollowsTheRuntimeDeviceOfItsType) {
  using kernel_test::Input;
  const std::string json = kernel_test::Nodes({kernel_test::Node(
      "buf0", "aoti_test::encode_statics",
      {Input("f", R"({"as_float": 1.0})"), Input("b", R"({"as_bool": false})"),
       Input("s", R"({"as_string": ""})"),
       Input("dtype", R"({"as_scalar_type": 12})"),
       Input("layout", R"({"as_layout": 7})"),
       Input("memory_format", R"({"as_memory_format": 2})"),
       Input("device", R"({"as_device": {"type": "cuda", "index": 0}})")},
      {kernel_test::TensorArg("buf0")})});
  auto expect_device = [&](const char* runtime, c10::DeviceType type,
                           int index) {
    SCOPED_TRACE(runtime);
    auto set = kernel_test::ParseJson(json, c10::Device(runtime));
    ASSERT_TRUE(set.ok()) << set.status();
    Record expected;
    expected.Add(1.0).AddBool(false).AddString("");
    expected.Add(static_cast<double>(c10::ScalarType::Bool));
    expected.Add(static_cast<double>(c10::Layout::Strided));
    expected.Add(static_cast<double>(c10::MemoryFormat::ChannelsLast));
    expected.Add(static_cast<double>(type)).Add(index);
    auto outputs = RunBothWays(*set, 0, {}, {});
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()));
  };
  expect_device("cuda:1", c10::kCUDA, 1);
  expect_device("cuda", c10::kCUDA, -1);
  expect_device("cpu", c10::kCUDA, 0);
}

TEST_F(CustomOpsTest, ScalarArguments) {
  using aoti_test::kTagBool;
  using aoti_test::kTagFloat;
  using aoti_test::kTagInt;
  struct Case {
    int node;
    std::vector<int64_t> ints;
    std::vector<double> record;
  };
  const Case cases[] = {
      {kScalarInt, {7}, {kTagInt, 7}},
      {kScalarInt, {-4}, {kTagInt, -4}},
      {kScalarSymInt, {11}, {kTagInt, 11}},
      {kScalarFloat, {}, {kTagFloat, -1.5}},
      {kScalarBool, {}, {kTagBool, 1}},
      {kScalarsInts, {20, 30}, {2, kTagInt, 20, kTagInt, 30}},
      {kScalarsFloats, {}, {2, kTagFloat, 0.5, kTagFloat, -2.0}},
      {kScalarsBools, {}, {2, kTagBool, 1, kTagBool, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "node " << c.node);
    auto outputs = RunBothWays(kernels(), c.node, c.ints, {});
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(SameTensor(outputs[0], kernel_test::DoubleTensor(c.record)));
  }
}

TEST_F(CustomOpsTest, AnyArguments) {
  using aoti_test::kTagBool;
  using aoti_test::kTagFloat;
  using aoti_test::kTagInt;
  using aoti_test::kTagNone;
  using aoti_test::kTagString;
  using aoti_test::kTagTensor;
  struct Case {
    int node;
    std::vector<int64_t> ints;
    std::vector<Tensor> inputs;
    std::vector<double> record;
  };
  const Case cases[] = {
      {kAnyTensor, {}, {arg0_1_}, {kTagTensor, 15}},
      {kAnyInt, {8}, {}, {kTagInt, 8}},
      {kAnyFloat, {}, {}, {kTagFloat, 0.75}},
      {kAnyBool, {}, {}, {kTagBool, 0}},
      {kAnyString, {}, {}, {kTagString, 3, 'a', 'n', 'y'}},
      {kAnyNone, {}, {}, {kTagNone}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "node " << c.node);
    auto outputs = RunBothWays(kernels(), c.node, c.ints, c.inputs);
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(SameTensor(outputs[0], kernel_test::DoubleTensor(c.record)));
  }
}

TEST_F(CustomOpsTest, SymIntArguments) {
  // n = s0, ns = [4, s1] (as_sym_ints mixing as_int and as_name), maybe_n
  // omitted.
  auto outputs = RunBothWays(kernels(), kSymIntsDefault, {3, 4, 6}, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(
      SameTensor(outputs[0], kernel_test::DoubleTensor({3, 2, 4, 6, kNone})));
  // n as_int, ns as_ints, maybe_n as_sym_int.
  outputs = RunBothWays(kernels(), kSymIntsAll, {9, 1, 2, 3, 12}, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(
      SameTensor(outputs[0], kernel_test::DoubleTensor({9, 3, 1, 2, 3, 12})));
}

TEST_F(CustomOpsTest, OptionalArguments) {
  auto outputs = RunBothWays(kernels(), kOptionalsNone, {}, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], kernel_test::DoubleTensor(
                                         {kNone, kNone, kNone, kNone, kNone})));

  outputs = RunBothWays(kernels(), kOptionalsPresent, {3}, {arg1_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(
      outputs[0], kernel_test::DoubleTensor(
                      {12, 3, 2.5, static_cast<double>(c10::ScalarType::Double),
                       static_cast<double>(c10::kCPU), -1})));
}

TEST_F(CustomOpsTest, KwargOnlyDefaults) {
  Record defaults;
  defaults.Add(15).Add(2).Add(0.5).AddString("sum");
  defaults.AddList(std::vector<int64_t>{1, 2}).AddBool(true).AddNone();
  auto outputs = RunBothWays(kernels(), kKwargDefaultsOmitted, {}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], defaults.ToTensor()));

  // The JSON lists the kwargs in reverse; the flat ints follow the schema:
  // a, then dims.
  Record given;
  given.Add(15).Add(11).Add(1.5).AddString("mean");
  given.AddList(std::vector<int64_t>{5, 6, 7}).AddBool(false);
  given.Add(static_cast<double>(c10::ScalarType::Int));
  outputs =
      RunBothWays(kernels(), kKwargDefaultsReordered, {11, 5, 6, 7}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], given.ToTensor()));
}

// pytorch#189189: releases whose call sites pass the defaults of the
// kwarg-only ints that the JSON omits (a=2, dims=[1, 2]). Both layouts are
// right, told apart by the count; the extra ints must be the defaults.
TEST_F(CustomOpsTest, KwargOnlyDefaultsInTheFlatInts) {
  Record defaults;
  defaults.Add(15).Add(2).Add(0.5).AddString("sum");
  defaults.AddList(std::vector<int64_t>{1, 2}).AddBool(true).AddNone();
  auto outputs =
      RunBothWays(kernels(), kKwargDefaultsOmitted, {2, 1, 2}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], defaults.ToTensor()));

  auto wrong = RunNode(kernels(), kKwargDefaultsOmitted, {2, 9, 2}, {arg0_1_});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("int 1 is 9, not the default 1"),
            absl::string_view::npos)
      << wrong.status();
  auto short_by_one =
      RunNode(kernels(), kKwargDefaultsOmitted, {2, 1}, {arg0_1_});
  ASSERT_FALSE(short_by_one.ok());
  EXPECT_NE(short_by_one.status().message().find(
                "expected 0 ints (0 inputs + 0 int outputs; or 3 with the "
                "omitted kwarg-only defaults), got 2"),
            absl::string_view::npos)
      << short_by_one.status();
}

// Empty lists stay empty lists (OSSProxyExecutor turned them into None,
// which typed kernels refuse).
TEST_F(CustomOpsTest, EmptyListsStayEmptyLists) {
  auto outputs = RunBothWays(kernels(), kEmptyLists, {}, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(
      SameTensor(outputs[0], kernel_test::DoubleTensor({0, 0, 0, 0, 0, 0, 0})));
}

TEST_F(CustomOpsTest, NoneReturnsBeforeAndAfterATensor) {
  auto outputs = RunBothWays(kernels(), kTensorAndNone, {}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], arg0_1_ + 100));
  outputs = RunBothWays(kernels(), kNoneAndTensor, {}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], arg0_1_ - 100));
}

TEST_F(CustomOpsTest, TensorListReturnOfTheSerializedLength) {
  auto expected = TypedOp<std::vector<Tensor>(const Tensor&, int64_t)>(
                      "aoti_test::n_copies")
                      .call(arg0_1_, 2);
  auto outputs = RunBothWays(kernels(), kNCopies, {2}, {arg0_1_});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], expected[0]));
  EXPECT_TRUE(SameTensor(outputs[1], expected[1]));
}

// PyTorch writes non-finite floats as the strings "Infinity", "-Infinity"
// and "NaN"; Python's json.dumps writes them as bare tokens. Both load.
TEST_F(CustomOpsTest, NonFiniteFloatsInBothSpellings) {
  using kernel_test::Input;
  using kernel_test::Node;
  using kernel_test::TensorArg;
  const std::string json = kernel_test::Nodes({
      Node("buf0", "aoti_test::encode_scalars",
           {Input("s", R"({"as_floats": ["Infinity", "-Infinity", "NaN"]})")},
           {TensorArg("buf0")}),
      Node("buf1", "aoti_test::encode_scalars",
           {Input("s", R"({"as_floats": [Infinity, -Infinity, NaN]})")},
           {TensorArg("buf1")}),
      Node("buf2", "aoti_test::encode_scalar",
           {Input("s", R"({"as_float": "-Infinity"})")}, {TensorArg("buf2")}),
  });
  auto set = kernel_test::ParseJson(json);
  ASSERT_TRUE(set.ok()) << set.status();
  const double inf = std::numeric_limits<double>::infinity();
  for (int node : {0, 1}) {
    SCOPED_TRACE(::testing::Message() << "node " << node);
    auto outputs = RunNode(*set, node, {}, {});
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    const Tensor record = (*outputs)[0];
    ASSERT_EQ(record.numel(), 7);
    EXPECT_EQ(record[0].item<double>(), 3);
    EXPECT_EQ(record[2].item<double>(), inf);
    EXPECT_EQ(record[4].item<double>(), -inf);
    EXPECT_TRUE(std::isnan(record[6].item<double>()));
  }
  auto outputs = RunNode(*set, 2, {}, {});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_TRUE(SameTensor(
      (*outputs)[0], kernel_test::DoubleTensor({aoti_test::kTagFloat, -inf})));
}

// Concurrent calls of one kernel each get their own stack.
TEST_F(CustomOpsTest, ConcurrentCallsDoNotShareState) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<char> ok(kThreads, 0);  // not vector<bool>: one byte each
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &ok] {
      bool all = true;
      for (int i = 0; i < 50; ++i) {
        const Tensor x = at::full({3}, static_cast<float>(t));
        auto run = RunNode(kernels(), kDefaultInputGiven, {t + i}, {x});
        all = all && run.ok() && at::equal((*run)[0], x * (t + i));
      }
      ok[t] = all;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(ok[t]) << "thread " << t;
}

}  // namespace
}  // namespace aoti_executor
