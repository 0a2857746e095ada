#include "server/common/packed_node_table.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace aoti_executor {

namespace v1 = aoti::executor::v1;

NodeShape NodeAt(const v1::PackedNodeTable& table, size_t index) {
  const v1::PackedNodeTable::Shape& shape =
      table.shapes(table.node_shapes(static_cast<int>(index)));
  NodeShape node;
  node.target = table.targets(shape.target());
  node.num_input_tensors = shape.num_input_tensors();
  node.num_output_tensors = shape.num_output_tensors();
  node.num_input_ints = shape.num_input_ints();
  node.num_output_ints = shape.num_output_ints();
  node.num_omitted_default_ints = shape.num_omitted_default_ints();
  node.mutated_input_tensors = absl::MakeConstSpan(
      shape.mutated_input_tensors().data(), shape.mutated_input_tensors_size());
  return node;
}

absl::Status CheckPackedNodeTable(const v1::PackedNodeTable& table) {
  if (table.schemas_size() != table.targets_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the node table has ", table.targets_size(), " ops but ",
                     table.schemas_size(), " schemas"));
  }
  for (int i = 0; i < table.shapes_size(); ++i) {
    const v1::PackedNodeTable::Shape& shape = table.shapes(i);
    if (shape.target() < 0 || shape.target() >= table.targets_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", i, " of the node table names op ",
                       shape.target(), " of ", table.targets_size()));
    }
    if (shape.num_input_tensors() < 0 || shape.num_output_tensors() < 0 ||
        shape.num_input_ints() < 0 || shape.num_output_ints() < 0 ||
        shape.num_omitted_default_ints() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", i, " of the node table has a negative count"));
    }
  }
  for (int i = 0; i < table.node_shapes_size(); ++i) {
    if (table.node_shapes(i) < 0 ||
        table.node_shapes(i) >= table.shapes_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("node ", i, " of the node table has shape ",
                       table.node_shapes(i), " of ", table.shapes_size()));
    }
  }
  return absl::OkStatus();
}

void PackedNodeTableBuilder::Add(const v1::NodeInfo& node) {
  const auto [op, first_of_op] =
      target_index_.try_emplace(node.target(), table_.targets_size());
  if (first_of_op) {
    table_.add_targets(node.target());
    table_.add_schemas(node.schema());
  }
  v1::PackedNodeTable::Shape shape;
  shape.set_target(op->second);
  shape.set_num_input_tensors(node.num_input_tensors());
  shape.set_num_output_tensors(node.num_output_tensors());
  shape.set_num_input_ints(node.num_input_ints());
  shape.set_num_output_ints(node.num_output_ints());
  shape.set_num_omitted_default_ints(node.num_omitted_default_ints());
  *shape.mutable_mutated_input_tensors() = node.mutated_input_tensors();
  const auto [index, first_of_shape] =
      shape_index_.try_emplace(shape.SerializeAsString(), table_.shapes_size());
  if (first_of_shape) *table_.add_shapes() = std::move(shape);
  table_.add_node_shapes(index->second);
}

v1::PackedNodeTable PackNodes(
    const google::protobuf::RepeatedPtrField<v1::NodeInfo>& nodes) {
  PackedNodeTableBuilder builder;
  for (const v1::NodeInfo& node : nodes) builder.Add(node);
  return std::move(builder).Finish();
}

void UnpackNodes(const v1::PackedNodeTable& table,
                 google::protobuf::RepeatedPtrField<v1::NodeInfo>* nodes) {
  std::vector<bool> described(table.targets_size(), false);
  nodes->Reserve(table.node_shapes_size());
  for (size_t i = 0; i < NodeCount(table); ++i) {
    const NodeShape shape = NodeAt(table, i);
    const int32_t op =
        table.shapes(table.node_shapes(static_cast<int>(i))).target();
    v1::NodeInfo* node = nodes->Add();
    node->set_target(std::string(shape.target));
    if (!described[op]) {
      node->set_schema(table.schemas(op));
      described[op] = true;
    }
    node->set_num_input_tensors(shape.num_input_tensors);
    node->set_num_output_tensors(shape.num_output_tensors);
    node->set_num_input_ints(shape.num_input_ints);
    node->set_num_output_ints(shape.num_output_ints);
    node->set_num_omitted_default_ints(shape.num_omitted_default_ints);
    node->mutable_mutated_input_tensors()->Add(
        shape.mutated_input_tensors.begin(), shape.mutated_input_tensors.end());
  }
}

}  // namespace aoti_executor
