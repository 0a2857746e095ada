// The engine on what real PyTorch generated, not on JSON we wrote: the
// extern-kernel JSON of each model of //tests/models and the proxy calls of
// its generated wrapper, as PyTorch 2.13's AOTInductor wrote them
// (tests/fixtures/pytorch-2.13/, from tests/models/regen_fixtures.sh).
//
// Each call is made exactly as the generated code makes it (the same index,
// the same flat ints, the same number of tensor handles) and its outputs are
// checked against values derived by hand from the ops' definitions
// (tests/ops/test_ops.cc). The real .so files run in //tests/models; this
// suite pins the contract between PyTorch's code generator and the engine
// where a failure names the node and the count that went wrong.
//
// Built twice, like custom_ops_test: in-process and through the real
// aoti-executord (pytorch_output_remote_test).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/kernels/test_util.h"
#include "tests/ops/record.h"

namespace aoti_executor {
namespace {

using ::aoti_executor::kernel_test::AotiCall;
using ::aoti_executor::kernel_test::LoadFixture;
using ::aoti_executor::kernel_test::LoadTestOps;
using ::aoti_executor::kernel_test::NodeInfo;
using ::aoti_executor::kernel_test::ParseJson;
using ::aoti_executor::kernel_test::RunfilePath;
using ::aoti_executor::kernel_test::SameTensor;
using ::aoti_executor::kernel_test::TestKernels;
using ::aoti_test::Record;
using at::Tensor;

constexpr char kGenerated[] = "pytorch-2.13/";

// One aoti_torch_proxy_executor_call_function call site of a generated
// wrapper. An int is a literal or, with dynamic shapes, the C++ expression
// the wrapper computes it with ("2L*s77").
struct GeneratedCall {
  int index = 0;
  std::vector<std::string> ints;
  int num_tensors = 0;
};

std::string ReadRunfile(const std::string& relative) {
  std::ifstream file(RunfilePath(relative), std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// <model>.calls.json: {"torch": ..., "calls": [{"extern_node_index",
// "num_ints", "ints", "num_tensors"}, ...]}, in the wrapper's order.
std::vector<GeneratedCall> LoadCalls(const std::string& model) {
  const std::string path =
      std::string("tests/fixtures/") + kGenerated + model + ".calls.json";
  rapidjson::Document doc;
  doc.Parse(ReadRunfile(path).c_str());
  EXPECT_FALSE(doc.HasParseError()) << path;
  std::vector<GeneratedCall> calls;
  if (doc.HasParseError() || !doc.HasMember("calls")) return calls;
  for (const rapidjson::Value& site : doc["calls"].GetArray()) {
    GeneratedCall call;
    call.index = site["extern_node_index"].GetInt();
    call.num_tensors = site["num_tensors"].GetInt();
    for (const rapidjson::Value& value : site["ints"].GetArray()) {
      call.ints.push_back(value.IsString() ? value.GetString()
                                           : std::to_string(value.GetInt64()));
    }
    EXPECT_EQ(site["num_ints"].GetInt(), static_cast<int>(call.ints.size()))
        << path << ": call of node " << call.index;
    calls.push_back(std::move(call));
  }
  return calls;
}

// The value of a wrapper's size expression: sums of products of int
// literals (with C++'s L suffix) and symbols, which is all AOTInductor
// writes for these models.
int64_t Evaluate(const std::string& expr,
                 const std::map<std::string, int64_t>& symbols) {
  int64_t sum = 0;
  for (absl::string_view term : absl::StrSplit(expr, '+')) {
    int64_t product = 1;
    for (absl::string_view factor : absl::StrSplit(term, '*')) {
      factor = absl::StripAsciiWhitespace(factor);
      int64_t literal = 0;
      if (absl::SimpleAtoi(absl::StripSuffix(factor, "L"), &literal)) {
        product *= literal;
        continue;
      }
      auto symbol = symbols.find(std::string(factor));
      EXPECT_NE(symbol, symbols.end()) << "unknown symbol in " << expr;
      product *= symbol == symbols.end() ? 0 : symbol->second;
    }
    sum += product;
  }
  return sum;
}

std::vector<int64_t> Ints(const GeneratedCall& call,
                          const std::map<std::string, int64_t>& symbols = {}) {
  std::vector<int64_t> ints;
  for (const std::string& expr : call.ints) {
    ints.push_back(Evaluate(expr, symbols));
  }
  return ints;
}

// Makes `call` as the wrapper makes it: `inputs`, then one undefined handle
// per remaining tensor slot; returns what the output handles hold.
std::vector<Tensor> CallAsGenerated(const TestKernels& kernels,
                                    const GeneratedCall& call,
                                    const std::vector<Tensor>& inputs,
                                    const std::vector<int64_t>& ints) {
  AotiCall aoti(inputs, call.num_tensors - static_cast<int>(inputs.size()));
  absl::Status status = aoti.Call(kernels, call.index, ints);
  EXPECT_TRUE(status.ok()) << "node " << call.index << ": " << status;
  return aoti.outputs();
}

class PyTorchOutputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::Status loaded = LoadTestOps();
    ASSERT_TRUE(loaded.ok()) << loaded;
  }

  static TestKernels Load(const std::string& model) {
    auto kernels = LoadFixture(kGenerated + model + ".json");
    EXPECT_TRUE(kernels.ok()) << model << ": " << kernels.status();
    return *std::move(kernels);
  }
};

// Every call site's flat counts are the engine's: as many ints as the
// node's inputs and outputs flatten to, one handle per input and output
// tensor. A difference here is the "sizes differ" failure of a real run.
TEST_F(PyTorchOutputTest, EveryCallSiteHasTheEnginesCounts) {
  for (const std::string model :
       {"all_inputs", "custom_ops", "dynamic", "extern_stack", "mlp"}) {
    SCOPED_TRACE(model);
    const TestKernels kernels = Load(model);
    const std::vector<GeneratedCall> calls = LoadCalls(model);
    ASSERT_EQ(calls.size(), kernels.size()) << "one call per extern node";
    for (const GeneratedCall& call : calls) {
      absl::StatusOr<NodeInfo> info = kernels.backend().Describe(call.index);
      ASSERT_TRUE(info.ok()) << info.status();
      EXPECT_EQ(info->input_ints + info->output_ints,
                static_cast<int>(call.ints.size()))
          << "node " << call.index << " (" << info->target << ")";
      EXPECT_EQ(info->input_tensors + info->output_tensors, call.num_tensors)
          << "node " << call.index << " (" << info->target << ")";
    }
  }
}

// custom_ops: every argument kind PyTorch 2.13 serializes, one node each.
class CustomOpsModelTest : public PyTorchOutputTest {
 protected:
  void SetUp() override {
    kernels_ = std::make_unique<TestKernels>(Load("custom_ops"));
    calls_ = LoadCalls("custom_ops");
    ASSERT_EQ(calls_.size(), 8u);
    for (size_t i = 0; i < calls_.size(); ++i) {
      ASSERT_EQ(calls_[i].index, static_cast<int>(i));
    }
  }

  std::vector<Tensor> Call(int node, const std::vector<Tensor>& inputs) {
    return CallAsGenerated(*kernels_, calls_[node], inputs, Ints(calls_[node]));
  }

  const Tensor x_ = at::arange(6, at::kFloat).reshape({2, 3}) + 1;
  std::unique_ptr<TestKernels> kernels_;
  std::vector<GeneratedCall> calls_;
};

TEST_F(CustomOpsModelTest, OptionalsNoneAndPresent) {
  // encode_optionals(None, 7, 1.5, torch.int32, None).
  Record expected;
  expected.AddNone().Add(7).Add(1.5);
  expected.Add(static_cast<double>(c10::ScalarType::Int)).AddNone();
  const std::vector<Tensor> outputs = Call(0, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()));
}

TEST_F(CustomOpsModelTest, DefaultIntPassed) {
  const std::vector<Tensor> outputs = Call(1, {x_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], x_ * 3));
}

TEST_F(CustomOpsModelTest, OutVariantWritesItsOutArgument) {
  const Tensor out = at::zeros({2, 3});
  const std::vector<Tensor> outputs = Call(2, {x_, out});
  EXPECT_TRUE(outputs.empty());
  EXPECT_TRUE(SameTensor(out, x_ * 2 + 1));
}

TEST_F(CustomOpsModelTest, TupleOutput) {
  const std::vector<Tensor> outputs = Call(3, {x_});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], x_ + 2));
  EXPECT_TRUE(SameTensor(outputs[1], x_ * 2));
}

TEST_F(CustomOpsModelTest, ListInputAndListOutput) {
  const std::vector<Tensor> inputs = {x_, x_ * 10, x_ + 100};
  const std::vector<Tensor> outputs = Call(4, inputs);
  ASSERT_EQ(outputs.size(), 3u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_TRUE(SameTensor(outputs[i], inputs[i] - 1)) << i;
  }
}

TEST_F(CustomOpsModelTest, Statics) {
  // encode_statics(0.25, True, "hi", torch.float16, torch.strided,
  // torch.channels_last, torch.device("cpu")), serialized in torch/_export's
  // numbering (Half 6, Strided 7, ChannelsLast 2), unlike c10's.
  Record expected;
  expected.Add(0.25).AddBool(true).AddString("hi");
  expected.Add(static_cast<double>(c10::ScalarType::Half));
  expected.Add(static_cast<double>(c10::Layout::Strided));
  expected.Add(static_cast<double>(c10::MemoryFormat::ChannelsLast));
  expected.Add(static_cast<double>(c10::kCPU)).Add(-1);
  const std::vector<Tensor> outputs = Call(5, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()));
}

TEST_F(CustomOpsModelTest, InputMutation) {
  const Tensor t0 = at::ones({2, 3});
  const Tensor t2 = at::full({2, 3}, 3.0);
  const std::vector<Tensor> outputs = Call(6, {t0, x_, t2});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(t0, at::ones({2, 3}) + x_));
  EXPECT_TRUE(SameTensor(t2, at::full({2, 3}, 6.0)));
  EXPECT_TRUE(SameTensor(outputs[0], x_ * x_));
  EXPECT_TRUE(SameTensor(outputs[1], x_ - 5));
}

TEST_F(CustomOpsModelTest, KwargOnlyDefaults) {
  // encode_kwarg_defaults(x, a=5, b=0.5, mode="sum", dims=[1, 2], flag=True,
  // dtype=None): 2.13 serializes every kwarg, so the flat ints are a, dims.
  ASSERT_EQ(calls_[7].ints, (std::vector<std::string>{"5", "1", "2"}));
  Record expected;
  expected.AddTensor(x_).Add(5).Add(0.5).AddString("sum");
  expected.AddList(std::vector<int64_t>{1, 2}).AddBool(true).AddNone();
  const std::vector<Tensor> outputs = Call(7, {x_});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()));
}

// pytorch#189189: newer releases leave the kwargs that equal their defaults
// out of the JSON while the call site still passes their ints. The same
// generated node with those kwargs dropped (a=5 kept), called with 2.13's
// ints [5, 1, 2] (dims' default in the flat ints) and with [5] (dims
// omitted), gives the same record.
TEST_F(CustomOpsModelTest, KwargDefaultsLeftOutOfTheJsonAsPyTorch189189) {
  rapidjson::Document doc;
  doc.Parse(ReadRunfile(std::string("tests/fixtures/") + kGenerated +
                        "custom_ops.json")
                .c_str());
  ASSERT_FALSE(doc.HasParseError());
  rapidjson::Value& node = doc["nodes"][7]["node"];
  ASSERT_STREQ(node["target"].GetString(), "aoti_test::encode_kwarg_defaults");
  rapidjson::Value& inputs = node["inputs"];
  for (rapidjson::SizeType i = 0; i < inputs.Size();) {
    const std::string name = inputs[i]["name"].GetString();
    if (name == "x" || name == "a") {
      ++i;
    } else {
      inputs.Erase(inputs.Begin() + i);
    }
  }
  ASSERT_EQ(inputs.Size(), 2u);
  rapidjson::Value nodes(rapidjson::kArrayType);
  nodes.PushBack(doc["nodes"][7], doc.GetAllocator());
  doc["nodes"] = nodes;
  rapidjson::StringBuffer json;
  rapidjson::Writer<rapidjson::StringBuffer> writer(json);
  doc.Accept(writer);

  auto kernels = ParseJson(json.GetString());
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  Record expected;
  expected.AddTensor(x_).Add(5).Add(0.5).AddString("sum");
  expected.AddList(std::vector<int64_t>{1, 2}).AddBool(true).AddNone();
  GeneratedCall call = calls_[7];
  call.index = 0;
  for (const std::vector<int64_t>& ints :
       {std::vector<int64_t>{5, 1, 2}, std::vector<int64_t>{5}}) {
    const std::vector<Tensor> outputs =
        CallAsGenerated(*kernels, call, {x_}, ints);
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()))
        << ints.size() << " ints";
  }
}

// dynamic: the batch size is a symbol (s77); the wrapper computes the ints
// of a SymInt argument from it at run time.
TEST_F(PyTorchOutputTest, DynamicShapesAtTwoSizes) {
  const TestKernels kernels = Load("dynamic");
  const std::vector<GeneratedCall> calls = LoadCalls("dynamic");
  ASSERT_EQ(calls.size(), 2u);
  for (int64_t n : {6, 11}) {
    SCOPED_TRACE(n);
    const std::map<std::string, int64_t> symbols = {{"s77", n}};
    const Tensor t = at::arange(n * 3, at::kFloat).reshape({n, 3});
    std::vector<Tensor> outputs =
        CallAsGenerated(kernels, calls[0], {t}, Ints(calls[0], symbols));
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(SameTensor(outputs[0], t * 2));

    // encode_symints(n=s77, ns=[2*s77, 3], maybe_n=s77 + 1).
    Record expected;
    expected.Add(n).AddList(std::vector<int64_t>{2 * n, 3}).Add(n + 1);
    outputs = CallAsGenerated(kernels, calls[1], {}, Ints(calls[1], symbols));
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()));
  }
}

// all_inputs: PyTorch's own AOTI custom-op test schemas, with dynamic
// sizes. PyTorch 2.13's in-process executor fails node 3 (it casts the
// Scalar[] to List<Scalar>); the engine must not.
TEST_F(PyTorchOutputTest, AllInputsAndEveryReturnKind) {
  const TestKernels kernels = Load("all_inputs");
  const std::vector<GeneratedCall> calls = LoadCalls("all_inputs");
  ASSERT_EQ(calls.size(), 4u);
  const int64_t n = 5;
  const std::map<std::string, int64_t> symbols = {{"s17", n}};
  const Tensor x = at::arange(n * 3, at::kFloat).reshape({n, 3});
  const Tensor y = x * 0.5 + 100;  // a different sum

  // fn_with_mix_outputs(x, [x, y]) -> (x + 10, [x * 3, y * 3]).
  std::vector<Tensor> outputs =
      CallAsGenerated(kernels, calls[0], {x, x, y}, Ints(calls[0], symbols));
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_TRUE(SameTensor(outputs[0], x + 10));
  EXPECT_TRUE(SameTensor(outputs[1], x * 3));
  EXPECT_TRUE(SameTensor(outputs[2], y * 3));

  // fn_with_optional_tensor_output(x, y) -> (x + y, x * y, None): no
  // handle for the None.
  outputs = CallAsGenerated(kernels, calls[1], {x, y}, Ints(calls[1], symbols));
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], x + y));
  EXPECT_TRUE(SameTensor(outputs[1], x * y));

  // fn_with_int_output(x, y, 3) -> (x + y, x * y, None, 3, 6): the int
  // returns are slots of the flat ints after the input ints.
  ASSERT_EQ(calls[2].ints, (std::vector<std::string>{"3", "3", "6"}));
  outputs = CallAsGenerated(kernels, calls[2], {x, y}, Ints(calls[2], symbols));
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(SameTensor(outputs[0], x + y));
  EXPECT_TRUE(SameTensor(outputs[1], x * y));

  // fn_with_all_inputs, every argument in schema order (models.py).
  const double sx = x.sum().item<double>(), sy = y.sum().item<double>();
  Record expected;
  expected.Add(sx).Add(2).Add(sx).Add(sy);    // tensor, tensors
  expected.Add(3).Add(sx).AddNone().Add(sy);  // optional_tensors
  expected.AddBool(true).Add(2).AddBool(false).AddBool(true);
  expected.Add(7).AddList(std::vector<int64_t>{8, 9});
  expected.Add(n).AddList(std::vector<int64_t>{n, 2 * n});  // SymInts
  expected.Add(1.5).AddList(std::vector<double>{2.5, -0.5});
  expected.Add(aoti_test::kTagInt).Add(3);  // scalar
  expected.Add(2).Add(aoti_test::kTagFloat).Add(4.5);
  expected.Add(aoti_test::kTagFloat).Add(5.5);  // scalars
  expected.AddString("str").Add(2).AddString("a").AddString("bc");
  expected.Add(static_cast<double>(c10::kCPU)).Add(-1);
  expected.AddNone().Add(1).Add(sy).AddNone().Add(1).AddBool(true);
  expected.AddNone().AddList(std::vector<int64_t>{1}).Add(n).AddNone();
  expected.Add(2.0).AddNone().AddNone();
  expected.Add(1).Add(aoti_test::kTagFloat).Add(1.5);  // o_scalars
  expected.AddString("o").AddNone().AddNone();
  outputs = CallAsGenerated(kernels, calls[3], {x, x, y, x, y, y},
                            Ints(calls[3], symbols));
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], expected.ToTensor()));
}

// mlp: the matmuls are lowered; the custom ops between them are extern.
TEST_F(PyTorchOutputTest, MlpCalls) {
  const TestKernels kernels = Load("mlp");
  const std::vector<GeneratedCall> calls = LoadCalls("mlp");
  ASSERT_EQ(calls.size(), 3u);
  const Tensor h = at::randn({4, 8});
  std::vector<Tensor> outputs =
      CallAsGenerated(kernels, calls[0], {h}, Ints(calls[0]));
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], h * Ints(calls[0])[0]));

  outputs = CallAsGenerated(kernels, calls[1], {h}, Ints(calls[1]));
  ASSERT_EQ(outputs.size(), 2u);
  const int64_t i = Ints(calls[1])[0];
  EXPECT_TRUE(SameTensor(outputs[0], h + i));
  EXPECT_TRUE(SameTensor(outputs[1], h * i));

  outputs = CallAsGenerated(kernels, calls[2], {h}, Ints(calls[2]));
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_TRUE(SameTensor(outputs[0], h - Ints(calls[2])[0]));
}

}  // namespace
}  // namespace aoti_executor
