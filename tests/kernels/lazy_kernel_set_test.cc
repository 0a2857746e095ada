// KernelSet's node spans and LazyKernelSet: a node resolved from its own
// text is the node the whole-set parse resolves, and a node is resolved only
// when a call first needs it.
#include "server/kernels/lazy_kernel_set.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/kernels/kernel_set.h"
#include "tests/kernels/test_util.h"

namespace aoti_executor {
namespace {

using ::testing::HasSubstr;

constexpr char kAddNode[] =
    R"({"name": "buf0", "node": {"target": "aten::add.Tensor", "inputs": [)"
    R"({"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}}, "kind": 1},)"
    R"( {"name": "other", "arg": {"as_tensor": {"name": "arg1_1"}}, "kind": 1}],)"
    R"( "outputs": [{"as_tensor": {"name": "buf0"}}], "metadata": {"nodes": )"
    R"([{"x": 1}]}, "is_hop_single_tensor_return": null, "name": null}})";
constexpr char kMulNode[] =
    R"({"name": "buf1", "node": {"target": "aten::mul.Tensor", "inputs": [)"
    R"({"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}}, "kind": 1},)"
    R"( {"name": "other", "arg": {"as_tensor": {"name": "arg1_1"}}, "kind": 1}],)"
    R"( "outputs": [{"as_tensor": {"name": "buf1"}}], "metadata": {},)"
    R"( "is_hop_single_tensor_return": null, "name": null}})";

std::string ReadFile(const std::string& path) {
  std::ifstream file(kernel_test::RunfilePath(path), std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// Text with the nodes at offsets this function knows, and traps for the
// span recorder: a "nodes" member inside a node, an earlier top-level array
// of objects, a second top-level "nodes" (the parse reads the first one).
struct Layout {
  std::string json;
  std::vector<NodeSpan> expected;
};

Layout TrickyLayout() {
  Layout layout;
  layout.json =
      "\xEF\xBB\xBF{\"before\": [{\"a\": {}}, []],\n \"nodes\": [\n  ";
  for (const char* node : {kAddNode, kMulNode}) {
    if (!layout.expected.empty()) layout.json += " ,\n\t";
    layout.expected.push_back(NodeSpan{layout.json.size(), strlen(node)});
    layout.json += node;
  }
  layout.json += "\n], \"nodes\": [{\"y\": 2}], \"after\": {\"nodes\": []}}";
  return layout;
}

TEST(NodeSpansTest, EachSpanIsExactlyItsNodesText) {
  const Layout layout = TrickyLayout();
  auto set = KernelSet::Parse(layout.json, c10::Device("cpu"));
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 2u);
  ASSERT_EQ(set->node_spans().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(set->node_spans()[i].offset, layout.expected[i].offset) << i;
    EXPECT_EQ(set->node_spans()[i].size, layout.expected[i].size) << i;
  }
}

TEST(NodeSpansTest, NodesParsedFromTheirSpansMatchTheWholeSetParse) {
  ASSERT_TRUE(kernel_test::LoadTestOps().ok());
  for (const char* fixture :
       {"tests/fixtures/aten_ops.json", "tests/fixtures/custom_ops.json",
        "tests/fixtures/pytorch-2.13/all_inputs.json",
        "tests/fixtures/pytorch-2.13/mlp.json"}) {
    SCOPED_TRACE(fixture);
    const std::string json = ReadFile(fixture);
    ASSERT_FALSE(json.empty());
    auto set = KernelSet::Parse(json, c10::Device("cpu"));
    ASSERT_TRUE(set.ok()) << set.status();
    ASSERT_EQ(set->node_spans().size(), set->size());
    for (size_t i = 0; i < set->size(); ++i) {
      const NodeSpan& span = set->node_spans()[i];
      auto alone =
          KernelSet::ParseNode(json.substr(span.offset, span.size),
                               static_cast<int>(i), c10::Device("cpu"));
      ASSERT_TRUE(alone.ok()) << alone.status();
      const OpKernel& whole = **set->Find(static_cast<int64_t>(i));
      EXPECT_EQ(alone->description(), whole.description());
      EXPECT_EQ(alone->num_input_tensors(), whole.num_input_tensors());
      EXPECT_EQ(alone->num_input_ints(), whole.num_input_ints());
      EXPECT_EQ(alone->num_output_tensors(), whole.num_output_tensors());
      EXPECT_EQ(alone->num_output_ints(), whole.num_output_ints());
    }
  }
}

LazyKernelSet LazyOver(std::shared_ptr<const std::string> json,
                       std::vector<NodeSpan> spans) {
  const std::string& text = *json;
  return LazyKernelSet(std::move(json), text, std::move(spans),
                       c10::Device("cpu"));
}

TEST(LazyKernelSetTest, RunsTheOpOfEachNodeLikeATen) {
  ASSERT_TRUE(kernel_test::LoadTestOps().ok());
  const Layout layout = TrickyLayout();
  LazyKernelSet lazy =
      LazyOver(std::make_shared<std::string>(layout.json), layout.expected);
  ASSERT_EQ(lazy.size(), 2u);
  const at::Tensor a = at::rand({3, 4}), b = at::rand({3, 4});
  for (int64_t i : {1, 0}) {
    auto kernel = lazy.Find(i);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    auto out = (*kernel)->Run({}, {a, b});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), 1u);
    EXPECT_TRUE((*out)[0].equal(i == 0 ? at::add(a, b) : at::mul(a, b))) << i;
  }
}

TEST(LazyKernelSetTest, ResolvesANodeOnlyWhenItIsFirstNeeded) {
  // Node 1's text names an op that does not exist: a set that resolved
  // eagerly could not be built; this one fails that node's calls only.
  const std::string bad = std::string(kMulNode).replace(
      std::string(kMulNode).find("aten::mul.Tensor"), 16, "aten::no_such_op");
  auto json = std::make_shared<std::string>(std::string("{\"nodes\": [") +
                                            kAddNode + ", " + bad + "]}");
  const uint64_t first = json->find(kAddNode);
  const uint64_t second = json->find(bad);
  LazyKernelSet lazy = LazyOver(
      json, {NodeSpan{first, strlen(kAddNode)}, NodeSpan{second, bad.size()}});
  EXPECT_TRUE(lazy.Find(0).ok());
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto failed = lazy.Find(1);
    ASSERT_FALSE(failed.ok());
    EXPECT_THAT(failed.status().message(), HasSubstr("aten::no_such_op"));
  }
  auto out_of_range = lazy.Find(2);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_THAT(out_of_range.status().message(),
              HasSubstr("extern node index 2 is out of range: the kernel set "
                        "has 2 nodes"));
  EXPECT_FALSE(lazy.Find(-1).ok());
}

TEST(LazyKernelSetTest, ThreadsRacingOnANodeShareOneKernel) {
  const Layout layout = TrickyLayout();
  LazyKernelSet lazy =
      LazyOver(std::make_shared<std::string>(layout.json), layout.expected);
  std::vector<const OpKernel*> seen(8, nullptr);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t) {
    threads.emplace_back([&, t] {
      auto kernel = lazy.Find(1);
      if (kernel.ok()) seen[t] = *kernel;
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_NE(seen[0], nullptr);
  for (const OpKernel* kernel : seen) EXPECT_EQ(kernel, seen[0]);
}

}  // namespace
}  // namespace aoti_executor
