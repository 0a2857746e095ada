// A kernel set's node table as RegisterKernelSet answers it
// (v1::PackedNodeTable, proto/executor.proto): built node by node, checked
// when it arrives, read one node at a time; and converted from and to the
// NodeInfo list of a peer that predates it.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_PACKED_NODE_TABLE_H_
#define AOTI_EXECUTOR_SERVER_COMMON_PACKED_NODE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "proto/executor.pb.h"

namespace aoti_executor {

// How one node maps onto call_function's flat arrays. Views into its table.
struct NodeShape {
  absl::string_view target;  // "aten::index.Tensor"
  int num_input_tensors = 0;
  int num_output_tensors = 0;
  int num_input_ints = 0;
  int num_output_ints = 0;
  int num_omitted_default_ints = 0;
  absl::Span<const int32_t> mutated_input_tensors;
};

inline size_t NodeCount(const aoti::executor::v1::PackedNodeTable& table) {
  return static_cast<size_t>(table.node_shapes_size());
}

// Node `index` (below NodeCount) of a table CheckPackedNodeTable accepted.
NodeShape NodeAt(const aoti::executor::v1::PackedNodeTable& table,
                 size_t index);

// What NodeAt relies on: each op has a schema entry, every shape and op
// index lies in its array, and no count is negative. A client checks what a
// daemon answered before it indexes into it.
absl::Status CheckPackedNodeTable(
    const aoti::executor::v1::PackedNodeTable& table);

// Builds a table from nodes in order. A node's schema is kept if it is the
// first of its op (the daemon describes an op on its first node only).
class PackedNodeTableBuilder {
 public:
  void Add(const aoti::executor::v1::NodeInfo& node);
  aoti::executor::v1::PackedNodeTable Finish() && { return std::move(table_); }

 private:
  aoti::executor::v1::PackedNodeTable table_;
  absl::flat_hash_map<std::string, int32_t> target_index_;
  // A shape's serialization: equal shapes serialize alike.
  absl::flat_hash_map<std::string, int32_t> shape_index_;
};

// The table of a daemon that answers `nodes` only.
aoti::executor::v1::PackedNodeTable PackNodes(
    const google::protobuf::RepeatedPtrField<aoti::executor::v1::NodeInfo>&
        nodes);

// `nodes` for a client that reads no packed table: each op's schema on its
// first node only, as before.
void UnpackNodes(
    const aoti::executor::v1::PackedNodeTable& table,
    google::protobuf::RepeatedPtrField<aoti::executor::v1::NodeInfo>* nodes);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_PACKED_NODE_TABLE_H_
