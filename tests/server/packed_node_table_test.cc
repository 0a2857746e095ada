// The packed node table: what NodeAt reads out of a table built node by
// node (each op and each shape kept once), the conversions from and to NodeInfo
// lists (peers that predate packed tables), and every malformed table the
// client refuses before it indexes into one.
#include "server/common/packed_node_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace aoti_executor {
namespace {

namespace v1 = aoti::executor::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::NodeInfo Node(const std::string& target, const std::string& schema,
                  int inputs, int outputs, int input_ints, int output_ints,
                  int defaults, std::vector<int32_t> mutated) {
  v1::NodeInfo node;
  node.set_target(target);
  node.set_schema(schema);
  node.set_num_input_tensors(inputs);
  node.set_num_output_tensors(outputs);
  node.set_num_input_ints(input_ints);
  node.set_num_output_ints(output_ints);
  node.set_num_omitted_default_ints(defaults);
  node.mutable_mutated_input_tensors()->Add(mutated.begin(), mutated.end());
  return node;
}

// Six nodes of four ops in five shapes, as a daemon describes them: each
// op's schema on its first node only; two nodes mutate inputs, and the two
// cats take different numbers of tensors.
google::protobuf::RepeatedPtrField<v1::NodeInfo> SixNodes() {
  google::protobuf::RepeatedPtrField<v1::NodeInfo> nodes;
  *nodes.Add() = Node("aten::add.Tensor", "add(...)", 2, 1, 0, 0, 0, {});
  *nodes.Add() = Node("my::scale_", "scale_(...)", 2, 0, 1, 0, 2, {0});
  *nodes.Add() = Node("aten::add.Tensor", "", 2, 1, 0, 0, 0, {});
  *nodes.Add() = Node("aten::cat", "cat(...)", 3, 1, 1, 0, 0, {});
  *nodes.Add() = Node("my::swap_", "swap_(...)", 2, 0, 0, 1, 0, {1, 0});
  *nodes.Add() = Node("aten::cat", "", 2, 1, 1, 0, 0, {});
  return nodes;
}

TEST(PackedNodeTableTest, EachOpAndShapeIsKeptOnceAndEachNodeReadsBack) {
  const v1::PackedNodeTable table = PackNodes(SixNodes());
  ASSERT_TRUE(CheckPackedNodeTable(table).ok());
  EXPECT_THAT(table.targets(), ElementsAre("aten::add.Tensor", "my::scale_",
                                           "aten::cat", "my::swap_"));
  EXPECT_THAT(table.schemas(),
              ElementsAre("add(...)", "scale_(...)", "cat(...)", "swap_(...)"));
  EXPECT_EQ(table.shapes_size(), 5);
  EXPECT_THAT(table.node_shapes(), ElementsAre(0, 1, 0, 2, 3, 4));
  ASSERT_EQ(NodeCount(table), 6u);

  const NodeShape scale = NodeAt(table, 1);
  EXPECT_EQ(scale.target, "my::scale_");
  EXPECT_EQ(scale.num_input_tensors, 2);
  EXPECT_EQ(scale.num_output_tensors, 0);
  EXPECT_EQ(scale.num_input_ints, 1);
  EXPECT_EQ(scale.num_output_ints, 0);
  EXPECT_EQ(scale.num_omitted_default_ints, 2);
  EXPECT_THAT(scale.mutated_input_tensors, ElementsAre(0));

  const NodeShape add = NodeAt(table, 2);
  EXPECT_EQ(add.target, "aten::add.Tensor");
  EXPECT_EQ(add.num_output_tensors, 1);
  EXPECT_THAT(add.mutated_input_tensors, IsEmpty());

  EXPECT_EQ(NodeAt(table, 3).num_input_tensors, 3);
  EXPECT_EQ(NodeAt(table, 5).num_input_tensors, 2);
  EXPECT_EQ(NodeAt(table, 5).target, "aten::cat");

  const NodeShape swap = NodeAt(table, 4);
  EXPECT_EQ(swap.num_output_ints, 1);
  EXPECT_THAT(swap.mutated_input_tensors, ElementsAre(1, 0));
}

TEST(PackedNodeTableTest, UnpackingGivesBackTheNodeInfos) {
  const google::protobuf::RepeatedPtrField<v1::NodeInfo> nodes = SixNodes();
  google::protobuf::RepeatedPtrField<v1::NodeInfo> unpacked;
  UnpackNodes(PackNodes(nodes), &unpacked);
  ASSERT_EQ(unpacked.size(), nodes.size());
  for (int i = 0; i < nodes.size(); ++i) {
    EXPECT_EQ(unpacked[i].SerializeAsString(), nodes[i].SerializeAsString())
        << "node " << i << ": " << unpacked[i].ShortDebugString() << " vs "
        << nodes[i].ShortDebugString();
  }
}

TEST(PackedNodeTableTest, AnEmptyTableIsWellFormed) {
  const v1::PackedNodeTable table;
  EXPECT_TRUE(CheckPackedNodeTable(table).ok());
  EXPECT_EQ(NodeCount(table), 0u);
}

// Each case breaks one rule of a well-formed table; the error names it.
TEST(PackedNodeTableTest, MalformedTablesAreRefusedByName) {
  struct Case {
    std::string name;
    std::function<void(v1::PackedNodeTable*)> damage;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"an op without a schema",
       [](v1::PackedNodeTable* t) { t->mutable_schemas()->RemoveLast(); },
       "4 ops but 3 schemas"},
      {"a shape whose op is past the ops",
       [](v1::PackedNodeTable* t) { t->mutable_shapes(2)->set_target(4); },
       "shape 2 of the node table names op 4 of 4"},
      {"a shape with a negative op",
       [](v1::PackedNodeTable* t) { t->mutable_shapes(0)->set_target(-1); },
       "shape 0 of the node table names op -1 of 4"},
      {"a negative count",
       [](v1::PackedNodeTable* t) {
         t->mutable_shapes(1)->set_num_output_tensors(-2);
       },
       "shape 1 of the node table has a negative count"},
      {"a node whose shape is past the shapes",
       [](v1::PackedNodeTable* t) { t->set_node_shapes(3, 5); },
       "node 3 of the node table has shape 5 of 5"},
      {"a node with a negative shape",
       [](v1::PackedNodeTable* t) { t->set_node_shapes(5, -1); },
       "node 5 of the node table has shape -1 of 5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::PackedNodeTable table = PackNodes(SixNodes());
    c.damage(&table);
    const absl::Status checked = CheckPackedNodeTable(table);
    EXPECT_TRUE(absl::IsInvalidArgument(checked)) << checked;
    EXPECT_THAT(std::string(checked.message()), HasSubstr(c.error));
  }
}

}  // namespace
}  // namespace aoti_executor
