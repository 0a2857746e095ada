// Every way a JSON or a call can be wrong: each gives a status with the right
// code and a message naming what was wrong (node, op, argument, numbers), and
// nothing crashes.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/kernels/handle_call.h"
#include "server/kernels/kernel_set.h"
#include "tests/kernels/test_util.h"

namespace aoti_executor {
namespace {

using ::aoti_executor::kernel_test::AotiCall;
using ::aoti_executor::kernel_test::Input;
using ::aoti_executor::kernel_test::LoadTestOps;
using ::aoti_executor::kernel_test::Node;
using ::aoti_executor::kernel_test::Nodes;
using ::aoti_executor::kernel_test::ParseJson;
using ::aoti_executor::kernel_test::RunNode;
using ::aoti_executor::kernel_test::TensorArg;
using ::aoti_executor::kernel_test::TensorsArg;
using at::Tensor;
using ::testing::HasSubstr;

void ExpectError(const absl::Status& status, absl::StatusCode code,
                 const std::vector<std::string>& fragments) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& fragment : fragments) {
    EXPECT_THAT(std::string(status.message()), HasSubstr(fragment));
  }
}

// A document with one node, "buf0".
std::string OneNode(const std::string& target,
                    const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs,
                    const std::string& metadata = "{}") {
  return Nodes({Node("buf0", target, inputs, outputs, metadata)});
}

// encode_statics with one argument replaced.
std::string EncodeStatics(const std::string& name, const std::string& arg) {
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"f", R"({"as_float": 1.0})"},
      {"b", R"({"as_bool": true})"},
      {"s", R"({"as_string": "s"})"},
      {"dtype", R"({"as_scalar_type": 7})"},
      {"layout", R"({"as_layout": 7})"},
      {"memory_format", R"({"as_memory_format": 1})"},
      {"device", R"({"as_device": {"type": "cpu", "index": null}})"},
  };
  std::vector<std::string> inputs;
  for (const auto& [arg_name, value] : defaults) {
    inputs.push_back(Input(arg_name, arg_name == name ? arg : value));
  }
  return OneNode("aoti_test::encode_statics", inputs, {TensorArg("buf0")});
}

const char kDefaultInputNode[] =
    "extern node 0 'buf0' (aoti_test::fn_with_default_input)";

class ErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::Status loaded = LoadTestOps();
    ASSERT_TRUE(loaded.ok()) << loaded;
  }
};

// --- The document ----------------------------------------------------------

TEST_F(ErrorsTest, MalformedJson) {
  ExpectError(ParseJson(R"({"nodes": [)").status(),
              absl::StatusCode::kInvalidArgument, {"malformed", "offset 11"});
  ExpectError(ParseJson("").status(), absl::StatusCode::kInvalidArgument,
              {"malformed"});
}

TEST_F(ErrorsTest, MissingOrMistypedNodes) {
  ExpectError(ParseJson("{}").status(), absl::StatusCode::kInvalidArgument,
              {"missing key \"nodes\""});
  ExpectError(ParseJson("[]").status(), absl::StatusCode::kInvalidArgument,
              {"\"nodes\"", "an array"});
  ExpectError(ParseJson(R"({"nodes": {}})").status(),
              absl::StatusCode::kInvalidArgument,
              {"\"nodes\" must be an array"});
}

TEST_F(ErrorsTest, NoNodesIsAnEmptySet) {
  auto set = ParseJson(R"({"nodes": []})");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 0u);
}

TEST_F(ErrorsTest, MissingNodeOrTarget) {
  ExpectError(ParseJson(R"({"nodes": [{"name": "buf0"}]})").status(),
              absl::StatusCode::kInvalidArgument,
              {"extern node 0", "missing key \"node\""});
  ExpectError(ParseJson(R"({"nodes": [{"name": "buf0", "node": {"inputs": [], )"
                        R"("outputs": [], "metadata": {}}}]})")
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {"extern node 0", "missing key \"target\""});
  ExpectError(
      ParseJson(R"({"nodes": [{"name": "buf0", "node": {"target": 3}}]})")
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"extern node 0", "\"target\" must be a string"});
}

TEST_F(ErrorsTest, MissingInputsOrOutputs) {
  ExpectError(ParseJson(R"({"nodes": [{"name": "buf0", "node": {"target": )"
                        R"("aoti_test::always_throws", "outputs": []}}]})")
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {"extern node 0 'buf0' (aoti_test::always_throws)",
               "missing key \"inputs\""});
  ExpectError(
      ParseJson(R"({"nodes": [{"name": "buf0", "node": {"target": )"
                R"("aoti_test::always_throws", "inputs": [{"name": "x", )"
                R"("arg": {"as_tensor": {"name": "a"}}, "kind": 1}]}}]})")
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"(aoti_test::always_throws)", "missing key \"outputs\""});
}

TEST_F(ErrorsTest, LoadOfAMissingFile) {
  ExpectError(
      KernelSet::Load("/nonexistent/model.wrapper.json", c10::Device(c10::kCPU))
          .status(),
      absl::StatusCode::kNotFound, {"/nonexistent/model.wrapper.json"});
}

// Every prefix of a valid document is refused cleanly.
TEST_F(ErrorsTest, EveryTruncationIsRefused) {
  const std::string json =
      OneNode("aten::add.Tensor",
              {Input("self", TensorArg("a")), Input("other", TensorArg("b"))},
              {TensorArg("buf0")});
  ASSERT_TRUE(ParseJson(json).ok());
  for (size_t length = 0; length < json.size(); ++length) {
    EXPECT_FALSE(ParseJson(json.substr(0, length)).ok()) << length;
  }
}

// The daemon stops a parse whose content it finds it has cached.
TEST_F(ErrorsTest, AStoppedParseIsCancelledNotMalformed) {
  const std::string json =
      OneNode("aten::add.Tensor",
              {Input("self", TensorArg("a")), Input("other", TensorArg("b"))},
              {TensorArg("buf0")});
  std::stop_source source;
  auto running =
      KernelSet::Parse(json, c10::Device(c10::kCPU), source.get_token());
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->size(), 1u);

  source.request_stop();
  for (const std::string& text : {json, json.substr(0, json.size() / 2)}) {
    ExpectError(
        KernelSet::Parse(text, c10::Device(c10::kCPU), source.get_token())
            .status(),
        absl::StatusCode::kCancelled, {"stopped"});
  }
}

// --- Resolving the target --------------------------------------------------

TEST_F(ErrorsTest, UnknownOperator) {
  ExpectError(ParseJson(OneNode("aoti_test::no_such_op", {}, {})).status(),
              absl::StatusCode::kNotFound,
              {"extern node 0 'buf0' (aoti_test::no_such_op)",
               "'aoti_test::no_such_op' is not registered"});
}

TEST_F(ErrorsTest, UnknownOverload) {
  ExpectError(
      ParseJson(OneNode("aten::add.NoSuchOverload", {}, {})).status(),
      absl::StatusCode::kNotFound,
      {"extern node 0 'buf0' (aten::add.NoSuchOverload)", "is not registered"});
}

TEST_F(ErrorsTest, TargetWithTwoDots) {
  ExpectError(ParseJson(OneNode("aten::add.Tensor.out", {}, {})).status(),
              absl::StatusCode::kInvalidArgument,
              {"(aten::add.Tensor.out)", "more than one '.'"});
}

TEST_F(ErrorsTest, TargetWithoutNamespace) {
  ExpectError(ParseJson(OneNode("add", {}, {})).status(),
              absl::StatusCode::kInvalidArgument,
              {"target 'add'", "ns::op[.overload]"});
}

TEST_F(ErrorsTest, PythonOnlyCustomOp) {
  ExpectError(ParseJson(OneNode("mylib::py_only", {Input("x", TensorArg("a"))},
                                {TensorArg("buf0")},
                                R"({"torch_library_custom_op": "1"})"))
                  .status(),
              absl::StatusCode::kNotFound,
              {"(mylib::py_only)", "torch.library.custom_op", "TORCH_LIBRARY"});
}

TEST_F(ErrorsTest, CallTorchbindIsNotSupportedYet) {
  ExpectError(
      ParseJson(
          OneNode("call_torchbind",
                  {Input("obj", R"({"as_custom_obj": {"name": "obj0", )"
                                R"("class_fqn": "__torch__.torch.classes.)"
                                R"(mylib.Foo"}})"),
                   Input("method", R"({"as_string": "add"})")},
                  {TensorArg("buf0")}))
          .status(),
      absl::StatusCode::kUnimplemented,
      {"extern node 0 'buf0' (call_torchbind)", "not supported yet"});
}

// The failing node is named even when earlier nodes are fine.
TEST_F(ErrorsTest, TheFailingNodeIsNamedByItsIndex) {
  ExpectError(
      ParseJson(Nodes({Node("buf0", "aoti_test::always_throws",
                            {Input("x", TensorArg("a"))}, {TensorArg("buf0")}),
                       Node("buf1", "aoti_test::no_such_op", {}, {})}))
          .status(),
      absl::StatusCode::kNotFound, {"extern node 1 'buf1'"});
}

// --- Binding arguments -----------------------------------------------------

TEST_F(ErrorsTest, WrongKeyForTheSchemaType) {
  ExpectError(
      ParseJson(OneNode("aoti_test::fn_with_default_input",
                        {Input("t", R"({"as_int": 3})")}, {TensorArg("buf0")}))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {kDefaultInputNode, "argument 't'", "'Tensor' expects as_tensor",
       "as_int"});
  ExpectError(ParseJson(EncodeStatics("dtype", R"({"as_int": 6})")).status(),
              absl::StatusCode::kInvalidArgument,
              {"(aoti_test::encode_statics)", "argument 'dtype'",
               "as_scalar_type", "as_int"});
  ExpectError(
      ParseJson(OneNode("aoti_test::encode_scalar",
                        {Input("s", R"({"as_string": "1"})")},
                        {TensorArg("buf0")}))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"argument 's'", "as_int, as_sym_int, as_float or as_bool", "as_string"});
  ExpectError(ParseJson(OneNode("aoti_test::encode_scalars",
                                {Input("s", R"({"as_strings": ["a"]})")},
                                {TensorArg("buf0")}))
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {"argument 's'", "as_strings"});
  // `int` is not SymInt: as_sym_int is refused for it.
  ExpectError(
      ParseJson(OneNode("aoti_test::fn_with_default_input",
                        {Input("t", TensorArg("a")),
                         Input("i", R"({"as_sym_int": {"as_name": "s0"}})")},
                        {TensorArg("buf0")}))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {kDefaultInputNode, "argument 'i'", "as_sym_int"});
}

TEST_F(ErrorsTest, UnsupportedArgumentKinds) {
  // SymBool and SymFloat are not supported.
  ExpectError(
      ParseJson(EncodeStatics("b", R"({"as_sym_bool": {"as_name": "u0"}})"))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"(aoti_test::encode_statics)", "argument 'b'", "as_bool",
       "as_sym_bool"});
  ExpectError(
      ParseJson(EncodeStatics("f", R"({"as_sym_float": {"as_name": "u0"}})"))
          .status(),
      absl::StatusCode::kInvalidArgument, {"argument 'f'", "as_sym_float"});
  // A schema type the engine has no binding for: Generator.
  ExpectError(ParseJson(OneNode("aten::bernoulli",
                                {Input("self", TensorArg("a")),
                                 Input("generator", R"({"as_graph": {}})", 2)},
                                {TensorArg("buf0")}))
                  .status(),
              absl::StatusCode::kUnimplemented,
              {"(aten::bernoulli)", "argument 'generator'",
               "unsupported argument type 'Generator'"});
  // A torchbind object for a Tensor.
  ExpectError(
      ParseJson(OneNode("aoti_test::always_throws",
                        {Input("x", R"({"as_custom_obj": {"name": "o", )"
                                    R"("class_fqn": "c"}})")},
                        {TensorArg("buf0")}))
          .status(),
      absl::StatusCode::kInvalidArgument, {"argument 'x'", "as_custom_obj"});
}

TEST_F(ErrorsTest, UnsupportedReturnKind) {
  ExpectError(ParseJson(OneNode("aten::_local_scalar_dense",
                                {Input("self", TensorArg("a"))},
                                {R"({"as_float": 1.0})"}))
                  .status(),
              absl::StatusCode::kUnimplemented,
              {"(aten::_local_scalar_dense)", "outputs[0]",
               "unsupported return type 'Scalar'"});
}

TEST_F(ErrorsTest, WrongKeyForAReturn) {
  ExpectError(
      ParseJson(OneNode("aoti_test::fn_with_default_input",
                        {Input("t", TensorArg("a"))}, {R"({"as_int": 1})"}))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {kDefaultInputNode, "outputs[0]", "as_tensor", "as_int"});
  ExpectError(ParseJson(OneNode("aoti_test::fn_with_list_output",
                                {Input("tensors", TensorsArg({"a"})),
                                 Input("i", R"({"as_int": 1})")},
                                {TensorArg("buf0")}))
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {"outputs[0]", "as_tensors", "as_tensor"});
}

TEST_F(ErrorsTest, UnknownSerializedArgumentName) {
  ExpectError(ParseJson(OneNode("aoti_test::fn_with_default_input",
                                {Input("t", TensorArg("a")),
                                 Input("bogus", R"({"as_int": 1})")},
                                {TensorArg("buf0")}))
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {kDefaultInputNode, "serialized argument 'bogus'",
               "fn_with_default_input(Tensor t, int i=3)"});
}

TEST_F(ErrorsTest, DuplicateArgument) {
  ExpectError(ParseJson(OneNode("aoti_test::fn_with_default_input",
                                {Input("t", TensorArg("a")),
                                 Input("t", TensorArg("b"))},
                                {TensorArg("buf0")}))
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {kDefaultInputNode, "argument 't' is serialized twice"});
}

TEST_F(ErrorsTest, MissingRequiredArgument) {
  ExpectError(ParseJson(OneNode("aoti_test::fn_with_tuple_output",
                                {Input("t", TensorArg("a"))},
                                {TensorArg("buf0"), TensorArg("buf1")}))
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {"(aoti_test::fn_with_tuple_output)",
               "argument 'i' is not serialized and has no default"});
}

TEST_F(ErrorsTest, OutputCountDiffersFromTheSchema) {
  ExpectError(ParseJson(OneNode("aoti_test::fn_with_tuple_output",
                                {Input("t", TensorArg("a")),
                                 Input("i", R"({"as_int": 1})")},
                                {TensorArg("buf0")}))
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {"(aoti_test::fn_with_tuple_output)", "serializes 1 outputs",
               "has 2 returns"});
}

TEST_F(ErrorsTest, MalformedArguments) {
  struct Case {
    const char* label;
    std::string input;  // the first input of fn_with_list_output
    std::vector<std::string> fragments;
  };
  const Case cases[] = {
      {"two keys",
       Input("tensors", R"({"as_tensors": [], "as_int": 1})"),
       {"argument 'tensors'", "exactly one key", "2 keys"}},
      {"not an object",
       Input("tensors", "3"),
       {"argument 'tensors'", "exactly one key", "a number"}},
      {"no name",
       R"({"arg": {"as_tensors": []}, "kind": 1})",
       {"inputs[0]", "missing key \"name\""}},
      {"no arg",
       R"({"name": "tensors", "kind": 1})",
       {"inputs[0]", "missing key \"arg\""}},
      {"name not a string",
       R"({"name": 1, "arg": {"as_tensors": []}})",
       {"inputs[0]", "\"name\" must be a string"}},
      {"list payload not a list",
       Input("tensors", R"({"as_tensors": {"name": "a"}})"),
       {"argument 'tensors'", "expected an array"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string json = OneNode("aoti_test::fn_with_list_output",
                                     {c.input, Input("i", R"({"as_int": 1})")},
                                     {TensorsArg({"buf1"})});
    std::vector<std::string> fragments = c.fragments;
    fragments.push_back("(aoti_test::fn_with_list_output)");
    ExpectError(ParseJson(json).status(), absl::StatusCode::kInvalidArgument,
                fragments);
  }
}

TEST_F(ErrorsTest, BadOptionalTensorListItem) {
  ExpectError(
      ParseJson(OneNode("aten::index.Tensor",
                        {Input("self", TensorArg("a")),
                         Input("indices",
                               R"({"as_optional_tensors": [{"as_int": 1}]})")},
                        {TensorArg("buf0")}))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"(aten::index.Tensor)", "argument 'indices'",
       "as_tensor or as_none, got as_int"});
}

TEST_F(ErrorsTest, BadFloatValues) {
  ExpectError(ParseJson(EncodeStatics("f", R"({"as_float": "inf"})")).status(),
              absl::StatusCode::kInvalidArgument,
              {"argument 'f'", "\"Infinity\"", "got \"inf\""});
  ExpectError(ParseJson(EncodeStatics("f", R"({"as_float": true})")).status(),
              absl::StatusCode::kInvalidArgument,
              {"argument 'f'", "expected a number, got a bool"});
}

TEST_F(ErrorsTest, SerializedEnumsOutOfRange) {
  struct Case {
    const char* name;
    std::string arg;
    absl::StatusCode code;
    std::vector<std::string> fragments;
  };
  const Case cases[] = {
      {"dtype",
       R"({"as_scalar_type": 0})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'dtype'", "serialized ScalarType 0"}},
      {"dtype",
       R"({"as_scalar_type": 99})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'dtype'", "serialized ScalarType 99"}},
      {"dtype",
       R"({"as_scalar_type": -1})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'dtype'", "serialized ScalarType -1"}},
      {"dtype",
       R"({"as_scalar_type": "FLOAT"})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'dtype'", "expected an integer"}},
      // Between the schema's two ranges (1..13, 28..35).
      {"dtype",
       R"({"as_scalar_type": 20})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'dtype'", "serialized ScalarType 20"}},
      {"layout",
       R"({"as_layout": 0})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'layout'", "serialized Layout 0"}},
      {"layout",
       R"({"as_layout": 8})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'layout'", "serialized Layout 8"}},
      {"memory_format",
       R"({"as_memory_format": 0})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'memory_format'", "serialized MemoryFormat 0"}},
      {"memory_format",
       R"({"as_memory_format": 5})",
       absl::StatusCode::kInvalidArgument,
       {"argument 'memory_format'", "serialized MemoryFormat 5"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arg);
    std::vector<std::string> fragments = c.fragments;
    fragments.push_back("extern node 0 'buf0' (aoti_test::encode_statics)");
    ExpectError(ParseJson(EncodeStatics(c.name, c.arg)).status(), c.code,
                fragments);
  }
}

TEST_F(ErrorsTest, BadDevices) {
  ExpectError(
      ParseJson(EncodeStatics("device", R"({"as_device": {"type": "warp"}})"))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"argument 'device'", "unknown device type \"warp\""});
  ExpectError(
      ParseJson(
          EncodeStatics("device",
                        R"({"as_device": {"type": "cuda", "index": 1000}})"))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"argument 'device'", "device index 1000 is out of range"});
  ExpectError(
      ParseJson(EncodeStatics("device", R"({"as_device": {"index": 0}})"))
          .status(),
      absl::StatusCode::kInvalidArgument,
      {"argument 'device'", "missing key \"type\""});
}

// --- Calls -----------------------------------------------------------------

// Node 0: fn_with_default_input(t, i) -> 1 tensor input, 1 int, 1 output.
// Node 1: fn_with_int_output(t1, t2, i) -> 2 tensors, 1 int, 2 outputs and
//         2 int outputs (compiled as 5 and 10).
// Node 2: always_throws. Node 3: n_copies, serialized with 2 outputs.
// Node 4: fn_with_optional_tensor_output with its None return serialized as
//         a tensor. Node 5: throws_non_std.
class CallErrorsTest : public ErrorsTest {
 protected:
  void SetUp() override {
    auto set = ParseJson(Nodes({
        Node("buf0", "aoti_test::fn_with_default_input",
             {Input("t", TensorArg("a")), Input("i", R"({"as_int": 2})")},
             {TensorArg("buf0")}),
        Node("buf1", "aoti_test::fn_with_int_output",
             {Input("t1", TensorArg("a")), Input("t2", TensorArg("b")),
              Input("i", R"({"as_int": 5})")},
             {TensorArg("buf1"),
              R"({"as_optional_tensor": {"as_tensor": {"name": "buf2"}}})",
              R"({"as_optional_tensor": {"as_none": true}})",
              R"({"as_int": 5})", R"({"as_int": 10})"}),
        Node("buf3", "aoti_test::always_throws", {Input("x", TensorArg("a"))},
             {TensorArg("buf3")}),
        Node("buf4", "aoti_test::n_copies",
             {Input("x", TensorArg("a")), Input("n", R"({"as_int": 2})")},
             {TensorsArg({"buf5", "buf6"})}),
        Node("buf7", "aoti_test::fn_with_optional_tensor_output",
             {Input("t1", TensorArg("a")), Input("t2", TensorArg("b"))},
             {TensorArg("buf7"),
              R"({"as_optional_tensor": {"as_tensor": {"name": "buf8"}}})",
              R"({"as_optional_tensor": {"as_tensor": {"name": "buf9"}}})"}),
        Node("buf10", "aoti_test::throws_non_std", {Input("x", TensorArg("a"))},
             {TensorArg("buf10")}),
    }));
    ASSERT_TRUE(set.ok()) << set.status();
    kernels_ = std::make_unique<kernel_test::TestKernels>(*std::move(set));
  }

  // Every output handle of `call` is still undefined.
  static void ExpectOutputsUntouched(const AotiCall& call) {
    for (const Tensor& output : call.outputs()) {
      EXPECT_FALSE(output.defined());
    }
  }

  std::unique_ptr<kernel_test::TestKernels> kernels_;
  const Tensor a_ = at::ones({2, 2});
  const Tensor b_ = at::full({2, 2}, 3.0);
};

TEST_F(CallErrorsTest, NodeIndexOutOfRange) {
  for (int index : {-1, 6, 1 << 30}) {
    SCOPED_TRACE(index);
    ExpectError(kernels_->Find(index).status(),
                absl::StatusCode::kInvalidArgument,
                {absl::StrCat("extern node index ", index, " is out of range"),
                 "has 6 nodes"});
    AotiCall call({a_}, 1);
    ExpectError(call.Call(*kernels_, index, {2}),
                absl::StatusCode::kInvalidArgument,
                {absl::StrCat("extern node index ", index)});
    ExpectOutputsUntouched(call);
  }
}

TEST_F(CallErrorsTest, IntCountMismatch) {
  for (const std::vector<int64_t>& ints :
       {std::vector<int64_t>{}, std::vector<int64_t>{2, 3}}) {
    SCOPED_TRACE(ints.size());
    const std::string got = absl::StrCat("got ", ints.size());
    ExpectError(
        RunNode(*kernels_, 0, ints, {a_}).status(),
        absl::StatusCode::kInvalidArgument,
        {kDefaultInputNode, "expected 1 ints (1 inputs + 0 int outputs)", got});
    AotiCall call({a_}, 1);
    ExpectError(call.Call(*kernels_, 0, ints),
                absl::StatusCode::kInvalidArgument,
                {kDefaultInputNode, "expected 1 ints", got});
    ExpectOutputsUntouched(call);
  }
  // The int outputs count: 1 input + 2 int outputs.
  AotiCall call({a_, b_}, 2);
  ExpectError(call.Call(*kernels_, 1, {5}), absl::StatusCode::kInvalidArgument,
              {"extern node 1 'buf1' (aoti_test::fn_with_int_output)",
               "expected 3 ints (1 inputs + 2 int outputs), got 1"});
  ExpectOutputsUntouched(call);
}

TEST_F(CallErrorsTest, TensorCountMismatch) {
  // CallWithHandles counts inputs and outputs together.
  AotiCall too_few({a_}, 1);
  ExpectError(too_few.Call(*kernels_, 1, {5, 5, 10}),
              absl::StatusCode::kInvalidArgument,
              {"(aoti_test::fn_with_int_output)",
               "expected 4 tensors (2 inputs + 2 outputs), got 2"});
  AotiCall too_many({a_, b_}, 3);
  ExpectError(too_many.Call(*kernels_, 1, {5, 5, 10}),
              absl::StatusCode::kInvalidArgument,
              {"expected 4 tensors (2 inputs + 2 outputs), got 5"});
  ExpectOutputsUntouched(too_many);
  // Run counts inputs only.
  ExpectError(RunNode(*kernels_, 1, {5, 5, 10}, {a_}).status(),
              absl::StatusCode::kInvalidArgument,
              {"extern node 1 'buf1' (aoti_test::fn_with_int_output)",
               "expected 2 input tensors, got 1"});
  ExpectError(RunNode(*kernels_, 1, {5, 5, 10}, {a_, b_, a_}).status(),
              absl::StatusCode::kInvalidArgument,
              {"expected 2 input tensors, got 3"});
}

TEST_F(CallErrorsTest, NullHandlesAndArrays) {
  const int64_t ints[] = {2};
  Tensor input = a_;
  Tensor output;
  at::Tensor* null_output[] = {&input, nullptr};
  ExpectError(CallWithHandles(kernels_->set(), 0, 1, ints, 2, null_output),
              absl::StatusCode::kInvalidArgument, {"tensor handle 1 is NULL"});
  at::Tensor* null_input[] = {nullptr, &output};
  ExpectError(CallWithHandles(kernels_->set(), 0, 1, ints, 2, null_input),
              absl::StatusCode::kInvalidArgument, {"tensor handle 0 is NULL"});
  at::Tensor* handles[] = {&input, &output};
  ExpectError(CallWithHandles(kernels_->set(), 0, 1, nullptr, 2, handles),
              absl::StatusCode::kInvalidArgument,
              {"flatten_int_args is NULL", "num_ints=1"});
  ExpectError(CallWithHandles(kernels_->set(), 0, 1, ints, 2, nullptr),
              absl::StatusCode::kInvalidArgument,
              {"flatten_tensor_args is NULL", "num_tensors=2"});
  ExpectError(CallWithHandles(kernels_->set(), 0, -1, ints, 2, handles),
              absl::StatusCode::kInvalidArgument,
              {"negative count", "num_ints=-1"});
  ExpectError(CallWithHandles(kernels_->set(), 0, 1, ints, -2, handles),
              absl::StatusCode::kInvalidArgument,
              {"negative count", "num_tensors=-2"});
  EXPECT_FALSE(output.defined());
  // The same arrays, correct, succeed.
  absl::Status status =
      CallWithHandles(kernels_->set(), 0, 1, ints, 2, handles);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(at::equal(output, a_ * 2));
}

TEST_F(CallErrorsTest, KernelThatThrows) {
  AotiCall call({a_}, 1);
  ExpectError(call.Call(*kernels_, 2, {}), absl::StatusCode::kUnknown,
              {"extern node 2 'buf3' (aoti_test::always_throws) raised",
               "aoti_test::always_throws refuses a tensor of 2 dims"});
  ExpectOutputsUntouched(call);
  ExpectError(RunNode(*kernels_, 2, {}, {a_}).status(),
              absl::StatusCode::kUnknown, {"refuses a tensor of 2 dims"});
}

TEST_F(CallErrorsTest, KernelThatThrowsANonStdException) {
  AotiCall call({a_}, 1);
  ExpectError(call.Call(*kernels_, 5, {}), absl::StatusCode::kUnknown,
              {"extern node 5 'buf10' (aoti_test::throws_non_std) raised",
               "not a std::exception"});
  ExpectOutputsUntouched(call);
}

TEST_F(CallErrorsTest, TensorListReturnLengthDiffersFromTheSerializedOne) {
  for (int64_t n : {1, 3}) {
    SCOPED_TRACE(n);
    AotiCall call({a_}, 2);
    ExpectError(
        call.Call(*kernels_, 3, {n}), absl::StatusCode::kInternal,
        {"extern node 3 'buf4' (aoti_test::n_copies)",
         absl::StrCat("return 0 has ", n, " tensors"), "the node expects 2"});
    ExpectOutputsUntouched(call);
  }
  AotiCall call({a_}, 2);
  absl::Status status = call.Call(*kernels_, 3, {2});
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(at::equal(*call.handle(2), a_ + 1));
}

TEST_F(CallErrorsTest, IntReturnDiffersFromTheSpecializedValue) {
  AotiCall call({a_, b_}, 2);
  ExpectError(call.Call(*kernels_, 1, {5, 5, 11}), absl::StatusCode::kInternal,
              {"extern node 1 'buf1' (aoti_test::fn_with_int_output)",
               "return 4 is 10", "compiled for the int 11"});
  ExpectOutputsUntouched(call);
  ExpectError(RunNode(*kernels_, 1, {5, 6, 10}, {a_, b_}).status(),
              absl::StatusCode::kInternal,
              {"return 3 is 5", "compiled for the int 6"});
}

TEST_F(CallErrorsTest, NoneReturnedWhereTheNodeExpectsATensor) {
  AotiCall call({a_, b_}, 3);
  ExpectError(
      call.Call(*kernels_, 4, {}), absl::StatusCode::kInternal,
      {"extern node 4 'buf7' (aoti_test::fn_with_optional_tensor_output)",
       "return 2 is None", "expects a tensor"});
  ExpectOutputsUntouched(call);
}

}  // namespace
}  // namespace aoti_executor
